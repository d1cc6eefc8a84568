# Static fileserver on a minimal base, running as a non-root user with /data as its volume.
# Build: docker build --build-arg VERSION=$(git describe --tags --always) \
#          --build-arg REVISION=$(git rev-parse HEAD) -t fileserver .
# scripts/check-image.sh builds the same filesystem without a Docker engine and runs it as
# this image would (user 65532, read-only root, /data, the health check).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN VERSION=${VERSION} REVISION=${REVISION} ./scripts/build.sh /out/fileserver \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/fileserver /usr/local/bin/fileserver
COPY --from=build --chown=65532:65532 /out/data /data
# Defaults below any config file you mount: a file's server.listen or storage.path wins.
ENV FILESERVER_DEFAULT_SERVER_LISTEN=0.0.0.0:8080 \
    FILESERVER_DEFAULT_STORAGE_PATH=/data
USER 65532:65532
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s CMD ["/usr/local/bin/fileserver", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/fileserver"]
CMD ["serve"]
