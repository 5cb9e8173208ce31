FROM --platform=$BUILDPLATFORM tonistiigi/xx AS xx
FROM --platform=$BUILDPLATFORM golang:alpine AS build
COPY --from=xx / /
ARG TARGETPLATFORM
RUN xx-go build -o /out/app . && xx-verify /out/app

FROM scratch
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
