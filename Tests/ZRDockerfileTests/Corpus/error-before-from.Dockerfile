ARG X=1
ENV Y=2
FROM alpine
