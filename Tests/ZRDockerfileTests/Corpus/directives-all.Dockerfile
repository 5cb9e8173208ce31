# syntax=docker/dockerfile:1.7
# check=skip=JSONArgsRecommended;error=true
# escape=\

FROM alpine:3.19
# escape=`
RUN echo "directive above is a comment"
