# tdsproxy container image: a static binary on a distroless base.
# Build: docker build -t tdsproxy/tdsproxy:dev .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/tdsproxy/tdsproxy/cmd/tdsproxy/internal/app.version=${VERSION} -X github.com/tdsproxy/tdsproxy/cmd/tdsproxy/internal/app.commit=${COMMIT}" \
    -o /out/tdsproxy ./cmd/tdsproxy

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tdsproxy /usr/local/bin/tdsproxy
# 1433: TDS for clients; 9090: admin (/metrics, /healthz, /readyz).
EXPOSE 1433 9090
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/tdsproxy"]
CMD ["serve", "--listen", ":1433", "--admin-listen", ":9090"]
