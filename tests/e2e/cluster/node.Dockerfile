# The single Kubernetes node: Debian's containerd, runc and CNI plugins, plus the control-plane
# binaries from build.sh. Built by cluster.sh from a context it assembles (bin/ and node/).
FROM local/debian:bookworm
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      containerd runc containernetworking-plugins iptables nftables conntrack iproute2 \
      tini curl ca-certificates procps util-linux mount kmod ethtool dnsutils ipset \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
COPY bin/ /usr/local/bin/
COPY node/ /etc/talent/
# tini reaps the orphaned shims; node.sh itself stops the components in order.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["/etc/talent/node.sh"]
