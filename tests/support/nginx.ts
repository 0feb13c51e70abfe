/**
 * nginx for tests of `deploy/nginx-mcp-privileged.conf`: the site file is
 * rewritten to a free port and throwaway TLS files, wrapped in a minimal
 * nginx.conf under a temporary prefix, then checked with `nginx -t` or run in
 * the foreground.
 *
 * When nginx is missing it is installed with apt-get (nginx-light) if `CI` is
 * set; otherwise {@linkcode nginxSkipReason} explains why the tests are skipped.
 *
 * @module
 */

import { spawnDaemon, waitForPort } from "./daemon.ts";
import { announceSkip, missingToolReason } from "./skip.ts";

/** Debian's nginx binary. */
export const NGINX = "/usr/sbin/nginx";

let checked: Promise<string | null> | undefined;

/** Why nginx tests cannot run here, or `null` when they can. */
export function nginxSkipReason(): Promise<string | null> {
  checked ??= missingToolReason(NGINX, {
    aptPackage: "nginx-light",
    suite: "nginx",
  });
  return checked;
}

/** Prints the skip reason to stderr and returns it, for `Deno.test({ ignore })`. */
export function announceNginxSkip(): Promise<string | null> {
  return announceSkip(nginxSkipReason());
}

/** How the site file is adapted to the test machine. */
export interface SiteRewrite {
  /** PEM certificate and key written for `ssl_certificate(_key)`. */
  certPem: string;
  keyPem: string;
  /** Port for `listen 443` (IPv4 only; the `[::]:443` line is dropped). */
  listenPort: number;
  /** Replaces the port of every `proxy_pass http://127.0.0.1:8443`. */
  upstreamPort?: number;
  /** Extra `allow` lines placed before the site's own (server level). */
  allow?: string[];
  /** Extra `allow` lines placed before those of `location /approvals/`. */
  approversAllow?: string[];
}

/** A temporary nginx prefix holding the rewritten site. */
export interface NginxPrefix {
  dir: string;
  /** The nginx.conf that includes the site. */
  conf: string;
  remove(): Promise<void>;
}

/**
 * Writes the site (rewritten as `rewrite` says) and a minimal foreground,
 * single-process nginx.conf that includes it into a temporary prefix.
 */
export async function writeNginxPrefix(
  siteText: string,
  rewrite: SiteRewrite,
): Promise<NginxPrefix> {
  const dir = await Deno.makeTempDir({ prefix: "mcp-nginx-" });
  await Deno.writeTextFile(`${dir}/site.crt`, rewrite.certPem);
  await Deno.writeTextFile(`${dir}/site.key`, rewrite.keyPem, { mode: 0o600 });
  let site = siteText
    .replace(/ssl_certificate\s+\S+;/, `ssl_certificate ${dir}/site.crt;`)
    .replace(
      /ssl_certificate_key\s+\S+;/,
      `ssl_certificate_key ${dir}/site.key;`,
    )
    .replace(/listen 443 ssl;/, `listen 127.0.0.1:${rewrite.listenPort} ssl;`)
    .replace(/\n\s*listen \[::\]:443 ssl;/, "");
  if (rewrite.upstreamPort !== undefined) {
    site = site.replaceAll(
      "proxy_pass http://127.0.0.1:8443;",
      `proxy_pass http://127.0.0.1:${rewrite.upstreamPort};`,
    );
  }
  if (rewrite.allow !== undefined) {
    site = site.replace(
      /\n(\s*)allow /,
      (_match, indent: string) =>
        `\n${
          rewrite.allow!.map((a) => `${indent}allow ${a};\n`).join("")
        }${indent}allow `,
    );
  }
  if (rewrite.approversAllow !== undefined) {
    const start = site.indexOf("location /approvals/ {");
    if (start < 0) {
      throw new Error("The site file has no location /approvals/ block");
    }
    site = site.slice(0, start) + site.slice(start).replace(
      /\n(\s*)allow /,
      (_match, indent: string) =>
        `\n${
          rewrite.approversAllow!.map((a) => `${indent}allow ${a};\n`).join(
            "",
          )
        }${indent}allow `,
    );
  }
  await Deno.writeTextFile(`${dir}/site.conf`, site);
  const conf = `${dir}/nginx.conf`;
  await Deno.writeTextFile(
    conf,
    [
      "daemon off;",
      "master_process off;",
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log;`,
      "events {}",
      "http {",
      `  access_log ${dir}/access.log;`,
      ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) =>
        `  ${t}_temp_path ${dir}/${t}_temp;`
      ),
      `  include ${dir}/site.conf;`,
      "}",
      "",
    ].join("\n"),
  );
  return {
    dir,
    conf,
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}

/** `nginx -t` on a prefix: exit code and what it printed. */
export async function testNginxConfig(
  prefix: NginxPrefix,
): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command(NGINX, {
    args: ["-t", "-p", prefix.dir, "-c", prefix.conf],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
  return { code: out.code, output: decode(out.stdout) + decode(out.stderr) };
}

/** A running nginx. */
export interface RunningNginx {
  stop(): Promise<void>;
}

/** Runs nginx in the foreground and waits until its port accepts. */
export async function startNginx(
  prefix: NginxPrefix,
  port: number,
): Promise<RunningNginx> {
  const nginx = spawnDaemon(NGINX, {
    args: ["-p", prefix.dir, "-c", prefix.conf],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  });
  const stderr = new Response(nginx.child.stderr).text();
  await waitForPort(nginx, port, {
    name: "nginx",
    log: async () =>
      `${await stderr} ${await Deno.readTextFile(`${prefix.dir}/error.log`)
        .catch(() => "")}`,
  });
  return {
    stop: async () => {
      await nginx.stop("SIGQUIT");
      await stderr;
    },
  };
}
