# The equivalent of kind's kindest/base (images/base/Dockerfile of sigs.k8s.io/kind, the version
# node-image.sh copies files/ from), on the project's Debian base: the same packages and systemd
# setup, with Debian's containerd, runc and CNI plugins in place of the ones kind clones and builds
# from GitHub (unreachable here). The legacy builder has no COPY --chmod: node-image.sh sets the
# modes in the build context instead. Differences from kind's image are marked "here:".
FROM local/debian:bookworm
COPY files/ /
# here: Debian's containerd ships its own config.toml; kind's, copied above, is kept.
RUN chmod 755 /kind /kind/bin \
 && printf 'Dpkg::Options { "--force-confdef"; "--force-confold"; };\n' > /etc/apt/apt.conf.d/90keep-kind-config \
 && DEBIAN_FRONTEND=noninteractive clean-install \
      systemd \
      conntrack iptables nftables iproute2 ethtool util-linux mount kmod \
      libseccomp2 pigz fuse-overlayfs \
      e2fsprogs \
      bash ca-certificates curl jq procps \
      containerd runc containernetworking-plugins \
 && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
 && rm -f /lib/systemd/system/multi-user.target.wants/* \
 && rm -f /etc/systemd/system/*.wants/* \
 && rm -f /lib/systemd/system/local-fs.target.wants/* \
 && rm -f /lib/systemd/system/sockets.target.wants/*udev* \
 && rm -f /lib/systemd/system/sockets.target.wants/*initctl* \
 && rm -f /lib/systemd/system/basic.target.wants/* \
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
 && ln -s /usr/lib/systemd/systemd /sbin/init
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# here: Debian's binaries where kind's units and kind itself look for them.
RUN ln -s /usr/bin/containerd /usr/local/bin/containerd \
 && mkdir -p /opt/cni && ln -s /usr/lib/cni /opt/cni/bin \
 && ctr oci spec \
      | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
      | jq 'del(.process.rlimits)' \
      > /etc/containerd/cri-base.json \
 && containerd --version && runc --version
# here: root on the CI machine lacks CAP_SYS_RESOURCE, so runc cannot lower oom_score_adj (kind
# turns this on only for rootless nodes).
RUN sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml \
 && grep -q 'restrict_oom_score_adj = true' /etc/containerd/config.toml
RUN systemctl enable kubelet.service \
 && systemctl enable containerd.service \
 && systemctl enable undo-mount-hacks.service \
 && systemctl mask systemd-binfmt.service \
 && mkdir -p /etc/kubernetes/manifests
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/talent-entrypoint", "/usr/local/bin/entrypoint", "/sbin/init"]
