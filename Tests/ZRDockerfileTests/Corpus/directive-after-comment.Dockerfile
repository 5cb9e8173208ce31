# a leading comment ends the directive block
# syntax=docker/dockerfile:1
FROM alpine:3.19
