# syntax=docker/dockerfile:1
# vecgate container image.
#
#   docker build -t vecgate .
#   docker run --rm -p 127.0.0.1:5433:5433 -e VECGATE_UPSTREAM=postgres://... vecgate
#
# Build stage: Debian-based Go with cgo (pg_query_go compiles Postgres' parser in C). The runtime
# stage uses the same Debian release, so the binary's glibc matches. A plain go build carries every
# distance kernel set (portable Go, AVX2 and AVX-512 assembly); the binary picks one for the CPU it
# runs on when it starts, so no GOEXPERIMENT or GOAMD64 is needed for speed.
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=1 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags "-s -w -X main.version=${VERSION}" -o /out/vecgate ./cmd/vecgate

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin vecgate
COPY --from=build /out/vecgate /usr/local/bin/vecgate
USER vecgate:vecgate
# In a container vecgate listens on every interface; publish the port on the host's loopback.
ENV VECGATE_LISTEN=0.0.0.0:5433
EXPOSE 5433
ENTRYPOINT ["vecgate"]
CMD ["serve"]
