#!/usr/bin/python3
"""Real XMPP client for the e2e suite (slixmpp 1.8.3, Debian's /usr/bin/python3).

  upload:  log in, find the XEP-0363 service by disco (done here: slixmpp's own
           find_upload_service is broken on Python 3.11), request a slot, PUT the
           file, print {"get_url", "put_url", "put_headers", "service",
           "max_file_size", "status"} as one JSON line on stdout.
  receive: log in, wait for the first chat message with a body (e.g. the URL
           go-sendxmpp sent, delivered from offline storage), print {"body", "from"}.

Exits non-zero with a one-line reason on stderr on any failure or timeout.
TLS certificates are not verified: the suite uses a throwaway self-signed one.
"""
import argparse
import asyncio
import functools
import json
import logging
import os
import ssl
import sys

try:
    import slixmpp
    import aiohttp
    from aiohttp import ClientSession
    import slixmpp.plugins.xep_0363.http_upload as xep0363_http
except ImportError as exc:  # pragma: no cover
    sys.stderr.write("xmpp_upload.py: cannot import slixmpp/aiohttp (%s): install the Debian "
                     "package python3-slixmpp and run this with /usr/bin/python3\n" % exc)
    sys.exit(3)

NS_UPLOAD = "urn:xmpp:http:upload:0"


class Failure(Exception):
    pass


class Client(slixmpp.ClientXMPP):
    def __init__(self, args):
        super().__init__(args.jid, args.password)
        self.args = args
        self.done = self.loop.create_future()
        # Throwaway self-signed certificate in the test: do not verify it.
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        for plugin in ("xep_0030", "xep_0066", "xep_0128", "xep_0363"):
            self.register_plugin(plugin)
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("failed_auth", lambda _: self.fail("authentication failed"))
        self.add_event_handler("connection_failed", lambda e: self.fail("connection failed: %s" % e))
        self.add_event_handler("message", self.on_message)

    def fail(self, why):
        if not self.done.done():
            self.done.set_exception(Failure(why))

    def finish(self, result):
        if not self.done.done():
            self.done.set_result(result)

    async def on_session_start(self, _event):
        try:
            self.send_presence()
            if self.args.cmd == "upload":
                self.finish(await self.upload())
        except Exception as exc:  # report everything, including IqError/IqTimeout
            self.fail("%s: %s" % (type(exc).__name__, describe(exc)))

    def on_message(self, msg):
        if self.args.cmd == "receive" and msg["type"] in ("chat", "normal") and msg["body"]:
            self.finish({"body": msg["body"], "from": str(msg["from"]),
                         "oob": msg["oob"]["url"] if "oob" in msg.keys() else ""})

    async def find_service(self):
        """disco#items on our domain, disco#info on each item: the first with
        identity store/file and the XEP-0363 feature wins."""
        disco = self["xep_0030"]
        domain = self.boundjid.domain
        items = await disco.get_items(jid=domain, timeout=10)
        candidates = [domain] + [item[0] for item in items["disco_items"]["items"]]
        for jid in candidates:
            info = await disco.get_info(jid=jid, timeout=10)
            di = info["disco_info"]
            if ("store", "file") not in {(i[0], i[1]) for i in di["identities"]}:
                continue
            if NS_UPLOAD not in di["features"]:
                continue
            max_size = None
            for form in di.iterables:
                values = form["values"]
                if values.get("FORM_TYPE") in ([NS_UPLOAD], NS_UPLOAD):
                    try:
                        max_size = int(values.get("max-file-size"))
                    except (TypeError, ValueError):
                        pass
            return jid, max_size
        raise Failure("no XEP-0363 upload service in disco#items of %s (saw %s)" % (domain, candidates))

    async def upload(self):
        a = self.args
        service, max_size = await self.find_service()
        size = os.path.getsize(a.file)
        plugin = self["xep_0363"]
        result = {"service": str(service), "max_file_size": max_size}
        if a.put_content_type is None:
            # The plugin's own path: request_slot() + aiohttp PUT with the slot's
            # type. Record the slot it got so the caller can replay the PUT.
            plugin.upload_service = service
            if max_size is not None:
                plugin.max_file_size = max_size
            original = plugin.request_slot

            async def recording_request_slot(*args, **kwargs):
                iq = await original(*args, **kwargs)
                result["slot"] = iq["http_upload_slot"]
                return iq

            plugin.request_slot = recording_request_slot
            # upload_file() only raises on >= 400; learn the PUT's real status
            # through aiohttp's public tracing hooks on the session it creates.
            statuses = []
            trace = aiohttp.TraceConfig()

            async def on_request_end(_session, _ctx, params):
                statuses.append(params.response.status)

            trace.on_request_end.append(on_request_end)
            xep0363_http.ClientSession = functools.partial(ClientSession, trace_configs=[trace])
            with open(a.file, "rb") as fh:
                get_url = await plugin.upload_file(a.name, size=size, content_type=a.content_type,
                                                   input_file=fh, timeout=30)
            slot = result.pop("slot")
            status = statuses[-1] if statuses else 0
        else:
            # The slot declares one type, the PUT another (as Dino/Monal/OMEMO do):
            # the same steps as the plugin's upload_file(), with our own PUT type.
            iq = await plugin.request_slot(service, a.name, size, a.content_type, timeout=30)
            slot = iq["http_upload_slot"]
            headers = {"Content-Length": str(size), "Content-Type": a.put_content_type}
            headers.update({h["name"]: h["value"] for h in slot["put"]["headers"]})
            async with ClientSession(headers={"User-Agent": "slixmpp " + slixmpp.__version__}) as session:
                with open(a.file, "rb") as fh:
                    resp = await session.put(slot["put"]["url"], data=fh, headers=headers)
                    body = await resp.text()
                    status = resp.status
                    resp.close()
            if status >= 400:
                raise Failure("PUT %s answered %d: %s" % (slot["put"]["url"], status, body[:300]))
            get_url = slot["get"]["url"]
        result.update({
            "get_url": get_url,
            "put_url": slot["put"]["url"],
            "put_headers": {h["name"]: h["value"] for h in slot["put"]["headers"]},
            "status": status,
        })
        return result


def describe(exc):
    iq = getattr(exc, "iq", None)
    if iq is not None:
        return "%s %s %s" % (iq["error"]["type"], iq["error"]["condition"], iq["error"]["text"])
    return str(exc) or repr(exc)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cmd", choices=["upload", "receive"])
    p.add_argument("--jid", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--host", default="127.0.0.1", help="c2s address to connect to")
    p.add_argument("--port", type=int, required=True, help="c2s port (STARTTLS)")
    p.add_argument("--file", help="local file to upload")
    p.add_argument("--name", help="file name to declare in the slot request (default: basename)")
    p.add_argument("--content-type", default=None, help="content type of the slot request")
    p.add_argument("--put-content-type", default=None,
                   help="send this Content-Type on the PUT instead of the slot's")
    p.add_argument("--timeout", type=float, default=45)
    p.add_argument("--debug", action="store_true")
    a = p.parse_args()
    if a.cmd == "upload":
        if not a.file:
            p.error("upload needs --file")
        a.name = a.name or os.path.basename(a.file)
    logging.basicConfig(level=logging.DEBUG if a.debug else logging.ERROR, stream=sys.stderr,
                        format="%(levelname)s %(name)s %(message)s")
    if not a.debug:
        # slixmpp leaves a filter task pending at exit; asyncio's complaint is noise.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)

    client = Client(a)
    client.connect(address=(a.host, a.port), force_starttls=True, disable_starttls=False)
    try:
        result = client.loop.run_until_complete(asyncio.wait_for(client.done, a.timeout))
    except asyncio.TimeoutError:
        sys.stderr.write("xmpp_upload.py: %s timed out after %.0fs\n" % (a.cmd, a.timeout))
        return 2
    except Failure as exc:
        sys.stderr.write("xmpp_upload.py: %s failed: %s\n" % (a.cmd, exc))
        return 1
    finally:
        try:
            client.disconnect()
            client.loop.run_until_complete(asyncio.wait_for(client.disconnected, 3))
        except Exception:
            pass
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
