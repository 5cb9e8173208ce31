FROM ubuntu:22.04
ENTRYPOINT ["top", "-b"]
CMD ["-c"]
CMD echo "shell form with $HOME"
ENTRYPOINT exec top -b
CMD []
CMD ["unicode \u00e9 and \"quotes\" and \\ backslash"]
