# The edge's container image: one static binary, non-root.
#   make dist && docker build -f packaging/container/edge.Dockerfile --build-arg ARCH=amd64 -t REGISTRY/airlock-edge:VERSION dist
FROM scratch
ARG ARCH=amd64
COPY linux-${ARCH}/airlock-edge /usr/bin/airlock-edge
USER 65532:65532
EXPOSE 7844/udp 7843/tcp 7845/tcp
ENTRYPOINT ["/usr/bin/airlock-edge"]
