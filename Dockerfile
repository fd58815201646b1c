# syntax=docker/dockerfile:1
# crypttalkd and ctl, static, on a non-root base; /data is the only place the
# server writes (embedded store, generated keys, blobs).
#
#   docker build -t crypttalk/crypttalkd .                   # compile here
#   make image                                               # compile on the host, then package
#
# Build arguments:
#   BINARIES  "source" (default) compiles in a golang stage; "prebuilt" takes
#             bin/image/{crypttalkd,ctl} from the build context (static,
#             CGO_ENABLED=0: what `make image` puts there). Packaging prebuilt
#             binaries needs no Go image, only the base.
#   BASE      the final base; any image works, the binaries are static.
#             "scratch" needs no registry at all (the deploy tests use it).
ARG BINARIES=source
ARG BASE=gcr.io/distroless/static-debian12:nonroot
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS binaries-source
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ ./cmd/crypttalkd ./cmd/ctl \
 && mkdir -p /out/data

# bin/image/ holds crypttalkd, ctl and an empty data/ (git keeps no empty
# directory, and scratch has no mkdir to make one).
FROM scratch AS binaries-prebuilt
COPY bin/image/ /out/

FROM binaries-${BINARIES} AS binaries

FROM ${BASE}
COPY --from=binaries /out/crypttalkd /out/ctl /usr/local/bin/
# The data dir belongs to the runtime user, so a fresh volume mounted there
# (docker copies the image's ownership into it) is writable without root.
COPY --from=binaries --chown=65532:65532 /out/data /data
# PATH for `kubectl exec ... -- ctl health`; scratch has none. ctl talks to
# the admin listener in the same container.
ENV PATH=/usr/local/bin:/usr/bin:/bin \
    CRYPTTALK_LISTEN=:5000 \
    CRYPTTALK_ADMIN_LISTEN=:9090 \
    CRYPTTALK_DATA_DIR=/data \
    CRYPTTALK_SERVER_URL=http://127.0.0.1:9090
VOLUME /data
EXPOSE 5000 9090
# Numeric, so runAsNonRoot can verify it and scratch needs no /etc/passwd.
USER 65532:65532
WORKDIR /data
ENTRYPOINT ["/usr/local/bin/crypttalkd"]
CMD ["serve"]
