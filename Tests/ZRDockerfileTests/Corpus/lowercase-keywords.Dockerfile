from alpine:3.19 as Builder
run echo hi
copy --from=builder /etc/hosts /tmp/hosts
cmd echo done
