# mcp-privileged: the gateway and its sandboxed executors on the official Deno
# image (BASE_IMAGE). See docs/docker.md.
#
#   docker build -t mcp-privileged:0.1.0 .
#   docker run -d --name mcp-privileged --read-only --tmpfs /tmp \
#     --env-file .env -p 8443:8443 mcp-privileged:0.1.0
#
# The base image is pinned by the digest of its multi-architecture index
# (linux/amd64 + linux/arm64), as the hardening checklist asks. The digest was
# taken from public Dockerfiles that pin denoland/deno:debian-2.9.6, :2.9.6,
# :debian and :latest to this same value (one records `deno --version` =
# 2.9.6 / v8 15.0.245.2 / typescript 6.0.3); it could not be checked against
# Docker Hub from the machine that wrote this file. Before the first build:
#   docker buildx imagetools inspect denoland/deno:debian-2.9.6
# must print this digest; when upgrading Deno, take the new digest from there.
# Where Docker Hub is out of reach, build on a local equivalent instead:
# scripts/container/build_base.sh assembles one from Debian packages and
# Deno's npm package, then (docs/docker.md, "Building without Docker Hub")
#   buildah bud --isolation chroot --format docker --pull=never \
#     --build-arg BASE_IMAGE=localhost/deno-base:debian-2.9.6 -t mcp-privileged:0.1.0 .
ARG BASE_IMAGE=denoland/deno:debian-2.9.6@sha256:2014dc167ece617ef7e7ba40631ac2234c59e75ce693e7cc2dc2602b3c87859d
FROM ${BASE_IMAGE}

# DENO_DIR is the base image's module cache, filled at build time and read-only
# at run time (executors run with --cached-only). ENV_FILE= makes the service
# read its configuration from the environment only (docker --env-file).
ENV DENO_DIR=/deno-dir \
    DENO_NO_UPDATE_CHECK=1 \
    NO_COLOR=1 \
    ENV_FILE=

RUN useradd --system --uid 10001 --user-group --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin mcpuser

WORKDIR /app
COPY . .

# Everything any process of the service can load, cached with the committed
# lockfile: the gateway, every executor child, the doctor and the CCP
# emulator (compose lab). The files stay owned by root: the service cannot
# change its own code or cache. The allow-run path in CMD must be the real
# binary, not a symlink: the build stops if the base image ever changes that.
# Each executor then runs once with an empty stdin (it answers bad_request
# and exits 0): that fills V8's code cache in DENO_DIR, which `deno install`
# does not, and which a child cannot write on the read-only root. Measured
# under a read-only bind mount (README, "Performance"): a PostgreSQL child
# starts in 65 ms with it instead of 104 ms.
# Behind a TLS-inspecting proxy, `deno install` must trust the proxy's CA:
# pass its PEM bundle as the build secret build_ca (docker build --secret
# id=build_ca,src=FILE; buildah bud --secret id=build_ca,src=FILE). It is
# mounted for this step only (DENO_CERT) and never stored in the image;
# without it Deno trusts its bundled roots only.
RUN --mount=type=secret,id=build_ca \
    if [ -f /run/secrets/build_ca ]; then export DENO_CERT=/run/secrets/build_ca; fi \
    && deno install --frozen-lockfile --entrypoint main.ts executors/children/*_executor.ts \
      scripts/doctor.ts emulator/main.ts \
    && for child in executors/children/*_executor.ts; do \
         deno run --no-prompt --cached-only --frozen-lockfile --allow-env \
           "$PWD/$child" </dev/null >/dev/null || exit 1; \
       done \
    && test "$(deno eval 'console.log(Deno.execPath())')" = /usr/bin/deno \
    && chmod -R a+rX,go-w /app /deno-dir

USER mcpuser
EXPOSE 8443

# The manual's alert: no answer within 10 s means the service is down.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch(`http://127.0.0.1:${Deno.env.get('PORT') || '8443'}/health`, { signal: AbortSignal.timeout(8000) }); Deno.exit(r.ok ? 0 : 1);"]

# The flags of `deno task start` (deno.json), with the fixed path of deno.
CMD ["deno", "run", "--quiet", "--cached-only", "--frozen-lockfile", "--allow-net", "--allow-env", "--allow-read", "--allow-run=/usr/bin/deno", "main.ts"]
