FROM golang:1.22 AS build
RUN go build -o /app .

FROM gcr.io/distroless/base
COPY --from=biuld /app /app
