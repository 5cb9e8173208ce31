FROM busybox:musl AS bb
FROM scratch
COPY --from=bb /bin/busybox /bin/busybox
ENTRYPOINT ["/bin/busybox"]
CMD ["sh"]
