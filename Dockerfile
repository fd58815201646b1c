# syntax=docker/dockerfile:1
# Multi-stage build of crypttalkd and ctl. Not built in CI here (no Docker
# engine); kept minimal: static binaries on a distroless base, non-root.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ ./cmd/crypttalkd ./cmd/ctl

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/crypttalkd /out/ctl /usr/local/bin/
ENV CRYPTTALK_LISTEN=:5000 CRYPTTALK_DATA_DIR=/data
VOLUME /data
EXPOSE 5000 9090
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/crypttalkd"]
CMD ["serve"]
