// upload.mjs: drives tus-js-client (the real third-party tus client, pinned in
// package.json) for the fileserver e2e suite (resumable_test.go, TestTusJSClientResume).
//
//   node upload.mjs --file PATH --endpoint SIGNED_CREATION_URL [--chunk-size N]
//        [--filename NAME] [--filetype TYPE] [--abort-after BYTES]
//   node upload.mjs --file PATH --upload-url UPLOAD_URL [--chunk-size N]
//
// The first form creates an upload; with --abort-after it aborts the upload (in
// the middle of a PATCH) once that many bytes were sent. The second form resumes
// an existing upload in a new process (tus-js-client's `uploadUrl` option).
// Prints one line of JSON: the upload URL and what the client did.
import fs from 'node:fs';
import * as tus from 'tus-js-client';

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--') || i + 1 >= argv.length) {
      throw new Error(`bad argument ${a}`);
    }
    out[a.slice(2)] = argv[++i];
  }
  return out;
}

function finish(code, obj) {
  process.stdout.write(JSON.stringify(obj) + '\n', () => process.exit(code));
}

const args = parseArgs(process.argv.slice(2));
if (!args.file || !(args.endpoint || args['upload-url'])) {
  console.error('usage: upload.mjs --file PATH (--endpoint URL | --upload-url URL) [--chunk-size N] [--abort-after N]');
  process.exit(2);
}
const size = fs.statSync(args.file).size;
const chunkSize = Number(args['chunk-size'] || 1 << 20);
const abortAfter = args['abort-after'] !== undefined ? Number(args['abort-after']) : -1;

const stats = { posts: 0, heads: 0, patches: 0, headOffset: null, firstPatchOffset: null, patchStatuses: [] };
let aborted = false;
let lastSent = 0;

// An fs.ReadStream with a path: tus-js-client reopens the file at any offset.
const input = fs.createReadStream(args.file);

const upload = new tus.Upload(input, {
  endpoint: args.endpoint,
  uploadUrl: args['upload-url'],
  chunkSize,
  uploadSize: size,
  retryDelays: [0, 500, 1000],
  metadata: {
    filename: args.filename || 'upload.bin',
    filetype: args.filetype || 'application/octet-stream',
  },
  onBeforeRequest(req) {
    const m = req.getMethod();
    if (m === 'POST') stats.posts++;
    if (m === 'HEAD') stats.heads++;
    if (m === 'PATCH') {
      stats.patches++;
      if (stats.firstPatchOffset === null) stats.firstPatchOffset = Number(req.getHeader('Upload-Offset'));
    }
  },
  onAfterResponse(req, res) {
    const m = req.getMethod();
    if (m === 'HEAD' && stats.headOffset === null) stats.headOffset = Number(res.getHeader('Upload-Offset'));
    if (m === 'PATCH') stats.patchStatuses.push(res.getStatus());
  },
  onProgress(bytesSent, bytesTotal) {
    lastSent = bytesSent;
    if (abortAfter >= 0 && !aborted && bytesSent >= abortAfter) {
      aborted = true;
      // Abort the request in flight (no termination: the upload stays resumable).
      upload.abort(false).then(
        () => finish(0, { url: upload.url, aborted: true, bytesSent, size, stats }),
        (err) => finish(1, { url: upload.url, aborted: true, error: String(err), stats }),
      );
    }
  },
  onError(err) {
    if (aborted) return;
    finish(1, { url: upload.url, error: String(err), bytesSent: lastSent, stats });
  },
  onSuccess() {
    if (aborted) return;
    finish(0, { url: upload.url, aborted: false, bytesSent: lastSent, size, stats });
  },
});

const deadline = Number(args['timeout-ms'] || 60000);
setTimeout(() => {
  finish(1, { url: upload.url, error: `timed out after ${deadline} ms`, bytesSent: lastSent, stats });
}, deadline).unref();

upload.start();
