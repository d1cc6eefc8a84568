# Static fileserver on a minimal base, running as a non-root user with /data as its volume.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/fileserver ./cmd/fileserver \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/fileserver /usr/local/bin/fileserver
COPY --from=build --chown=65532:65532 /out/data /data
ENV FILESERVER_SERVER_LISTEN=0.0.0.0:8080 \
    FILESERVER_STORAGE_PATH=/data
USER 65532:65532
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s CMD ["/usr/local/bin/fileserver", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/fileserver"]
CMD ["serve"]
