/**
 * The Kubernetes manifests of `deploy/kubernetes/`: every object is valid
 * against the Kubernetes 1.36 API schemas (values and field names), the
 * YAML means the same to every parser, the kustomization lists every file,
 * references between objects resolve, the Deployment agrees with the
 * Dockerfile (user, port, paths, read-only root, CMD) and with the
 * service's memory budget and drain timeline, the NetworkPolicy admits and
 * reaches only what the settings name, and the settings pass the service's
 * own configuration check (`loadConfig()` and `deno task check-config`)
 * once the Secret's placeholders are replaced, and fail with them.
 */
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { INamespace } from "kubernetes-models/v1/Namespace";
import type { ISecret } from "kubernetes-models/v1/Secret";
import type { IService } from "kubernetes-models/v1/Service";
import type { IServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import type { IVolume } from "kubernetes-models/v1/Volume";
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IPodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { INetworkPolicyPort } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../support/assert.ts";
import {
  dockerfileFacts,
  type KubeObject,
  loadManifests,
  manifestFiles,
  parseYaml,
  quantity,
  readManifestText,
  schemaError,
  typeCheckErrors,
} from "../support/kubernetes.ts";
import { PROJECT_ROOT } from "../support/paths.ts";
import { createTlsFixtures } from "../support/tls_fixtures.ts";
import {
  CONFIG_VARIABLES,
  ConfigError,
  loadConfig,
} from "../../gateway/config/mod.ts";
import {
  DEFAULT_EXECUTOR_MEMORY_MB,
  DEFAULT_MAX_CONCURRENT,
} from "../../executors/spawner/mod.ts";

const MANIFESTS = await loadManifests();
const DOCKERFILE = await dockerfileFacts();

/** The one object of a kind (and name); fails the test when it is missing. */
function the<T>(kind: string, name?: string): T {
  const found = MANIFESTS.filter((m) =>
    m.object.kind === kind &&
    (name === undefined || m.object.metadata.name === name)
  );
  assertEquals(found.length, 1, `${kind} ${name ?? ""} objects`);
  return found[0]!.object as unknown as T;
}

const DEPLOYMENT = the<IDeployment>("Deployment");
const POD = DEPLOYMENT.spec!.template.spec!;
const CONTAINER: IContainer = POD.containers[0]!;
const POLICY = the<INetworkPolicy>("NetworkPolicy");

/** The ConfigMap and Secret that envFrom names, in that order. */
function envSources(): { config: IConfigMap; secret: ISecret } {
  const configName = CONTAINER.envFrom?.find((s) => s.configMapRef)
    ?.configMapRef?.name;
  const secretName = CONTAINER.envFrom?.find((s) => s.secretRef)?.secretRef
    ?.name;
  assert(configName !== undefined, "envFrom names no ConfigMap");
  assert(secretName !== undefined, "envFrom names no Secret");
  return {
    config: the<IConfigMap>("ConfigMap", configName),
    secret: the<ISecret>("Secret", secretName),
  };
}

/** The Secret's values, `data` decoded and `stringData` as written. */
function secretValues(secret: ISecret): Record<string, string> {
  const decoded = Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([key, value]) => [key, atob(value)]),
  );
  return { ...decoded, ...secret.stringData };
}

/** The container's environment as the pod gets it (envFrom, then env). */
function podEnv(): Record<string, string> {
  const { config, secret } = envSources();
  const env: Record<string, string> = {
    ...config.data,
    ...secretValues(secret),
  };
  for (const variable of CONTAINER.env ?? []) {
    assert(variable.value !== undefined, `env ${variable.name} has no value`);
    env[variable.name] = variable.value;
  }
  return env;
}

const ENV = podEnv();

/** A setting as the service reads it: the pod's value, else its default. */
function setting(name: string, fallback: number): number {
  const raw = ENV[name];
  return raw === undefined || raw.trim() === "" ? fallback : Number(raw);
}

/** The container port a probe or Service names (by number or name). */
function containerPort(port: number | string): number {
  if (typeof port === "number") return port;
  const found = CONTAINER.ports?.find((p) => p.name === port);
  assert(found !== undefined, `no container port named ${port}`);
  return found.containerPort;
}

/** Whether `selector` (matchLabels) selects the pod template's labels. */
function selectsPod(matchLabels: Record<string, string> | undefined): boolean {
  const labels = DEPLOYMENT.spec!.template.metadata?.labels ?? {};
  const wanted = Object.entries(matchLabels ?? {});
  return wanted.length > 0 &&
    wanted.every(([key, value]) => labels[key] === value);
}

/** Variables whose values are secrets: never in a ConfigMap. */
const SECRET_VARIABLES = [
  "MCP_API_KEYS",
  "APPROVERS",
  "CYBERARK_CERT_PFX_PASSWORD",
  "REDIS_URL",
  "AUDIT_CHAIN_KEY",
  "OAUTH_INTROSPECTION_CLIENT_SECRET",
  "APPROVAL_WEBHOOK_URL",
];

Deno.test("every Kubernetes object is valid against the Kubernetes 1.36 schemas", async () => {
  assert(MANIFESTS.length >= 10, `only ${MANIFESTS.length} objects`);
  for (const { file, object } of MANIFESTS) {
    assertEquals(
      schemaError(object),
      undefined,
      `${file}: ${object.kind} ${object.metadata.name}`,
    );
  }
  assertEquals(await typeCheckErrors(MANIFESTS.map((m) => m.object)), "");
});

Deno.test("the schema checks refuse a wrong value and an unknown field", async () => {
  const mutated = structuredClone(DEPLOYMENT) as unknown as KubeObject;
  const container = (mutated as unknown as IDeployment).spec!.template.spec!
    .containers[0]!;
  (container.securityContext as Record<string, unknown>)
    .readOnlyRootFilesystem = "yes";
  assertMatch(
    schemaError(mutated) ?? "",
    /securityContext\/readOnlyRootFilesystem must be boolean/,
  );

  const misspelt = structuredClone(DEPLOYMENT) as unknown as KubeObject;
  const context = (misspelt as unknown as IDeployment).spec!.template.spec!
    .containers[0]!.securityContext as Record<string, unknown>;
  context.readOnlyRootFileSystem = context.readOnlyRootFilesystem;
  delete context.readOnlyRootFilesystem;
  // The JSON schema lets an unknown field through; the interfaces do not.
  assertEquals(schemaError(misspelt), undefined);
  assertStringIncludes(
    await typeCheckErrors([misspelt]),
    `'"readOnlyRootFileSystem"' does not exist in type`,
  );
});

Deno.test("every manifest reads the same under YAML 1.1 (kubectl) and YAML 1.2", async () => {
  for (const file of await manifestFiles()) {
    const text = await readManifestText(file);
    assertEquals(
      parseYaml(text, file, "1.1"),
      parseYaml(text, file, "1.2"),
      `${file} has a value YAML 1.1 and 1.2 read differently (a leading-zero number, yes/no/on/off, 1:20): quote it or write it in decimal`,
    );
  }
  // The check sees the classic trap: a file mode with a leading zero.
  const trap = "mode: 0440\n";
  assertEquals(parseYaml(trap, "trap", "1.1"), [{ mode: 0o440 }]);
  assertEquals(parseYaml(trap, "trap", "1.2"), [{ mode: 440 }]);
});

Deno.test("the kustomization lists every manifest, in one namespace, each object once", async () => {
  const [kustomization] = parseYaml(
    await readManifestText("kustomization.yaml"),
    "kustomization.yaml",
  ) as Record<string, unknown>[];
  assert(kustomization !== undefined);
  assertEquals(
    kustomization.apiVersion,
    "kustomize.config.k8s.io/v1beta1",
  );
  assertEquals(kustomization.kind, "Kustomization");
  assertEquals(
    Object.keys(kustomization).sort(),
    ["apiVersion", "kind", "namespace", "resources"],
  );
  assertEquals(
    [...(kustomization.resources as string[])].sort(),
    (await manifestFiles()).filter((f) => f !== "kustomization.yaml"),
  );
  const namespace = the<INamespace>("Namespace").metadata!.name;
  assertEquals(kustomization.namespace, namespace);
  const seen = new Set<string>();
  for (const { file, object } of MANIFESTS) {
    const id = `${object.kind}/${object.metadata.name}`;
    assert(!seen.has(id), `${id} appears twice`);
    seen.add(id);
    if (object.kind !== "Namespace") {
      assertEquals(object.metadata.namespace, namespace, file);
    }
  }
});

Deno.test("every reference between the objects resolves", () => {
  const spec = DEPLOYMENT.spec!;
  assert(selectsPod(spec.selector.matchLabels), "Deployment selector");
  assertEquals(
    spec.selector.matchLabels,
    DEPLOYMENT.spec!.template.metadata!.labels,
  );
  const service = the<IService>("Service");
  assert(selectsPod(service.spec!.selector), "Service selector");
  for (const port of service.spec!.ports!) {
    containerPort(port.targetPort ?? port.port);
  }
  const budget = the<IPodDisruptionBudget>("PodDisruptionBudget");
  assert(selectsPod(budget.spec!.selector?.matchLabels), "PDB selector");
  assert(selectsPod(POLICY.spec!.podSelector?.matchLabels), "policy selector");
  for (const constraint of POD.topologySpreadConstraints ?? []) {
    assert(selectsPod(constraint.labelSelector?.matchLabels), "spread");
  }
  the<IServiceAccount>("ServiceAccount", POD.serviceAccountName);
  envSources();
  for (const volume of POD.volumes ?? []) {
    if (volume.configMap) the<IConfigMap>("ConfigMap", volume.configMap.name);
    if (volume.secret) the<ISecret>("Secret", volume.secret.secretName);
  }
  const volumes = new Set((POD.volumes ?? []).map((v) => v.name));
  for (const mount of CONTAINER.volumeMounts ?? []) {
    assert(volumes.has(mount.name), `no volume ${mount.name}`);
  }
});

Deno.test("the container runs the image as the Dockerfile builds it", () => {
  const { user } = DOCKERFILE;
  assert(Number.isInteger(user.uid) && user.uid > 0, `uid ${user.uid}`);
  assert(
    DOCKERFILE.runsAs === user.name || DOCKERFILE.runsAs === `${user.uid}`,
    `USER ${DOCKERFILE.runsAs} is not the useradd user ${user.name}`,
  );
  const context = CONTAINER.securityContext!;
  for (const runAsUser of [POD.securityContext?.runAsUser, context.runAsUser]) {
    assertEquals(runAsUser, user.uid, "runAsUser = the Dockerfile's uid");
  }
  assertEquals(context.runAsNonRoot, true);
  assertEquals(context.readOnlyRootFilesystem, true);

  // The image's CMD (the flags of deno task start) runs unchanged.
  assert(DOCKERFILE.cmd.length > 0);
  assertEquals(CONTAINER.command, undefined, "command overrides the CMD");
  assertEquals(CONTAINER.args, undefined, "args override the CMD");

  // The one port the image exposes is the main port, and PORT says so.
  assertEquals(DOCKERFILE.exposed.length, 1);
  assertEquals(containerPort("http"), DOCKERFILE.exposed[0]);
  assertEquals(setting("PORT", 8443), DOCKERFILE.exposed[0]);

  // The configuration comes from the environment, never from a file.
  assertEquals(DOCKERFILE.env.ENV_FILE, "");
  assertEquals(ENV.ENV_FILE ?? "", "");

  // /tmp is the only writable path; nothing hides the code or its cache.
  const volumes = new Map<string, IVolume>(
    (POD.volumes ?? []).map((v) => [v.name, v]),
  );
  const readOnlyPaths = [DOCKERFILE.workdir, DOCKERFILE.env.DENO_DIR!];
  const writable: string[] = [];
  for (const mount of CONTAINER.volumeMounts ?? []) {
    for (const path of readOnlyPaths) {
      assert(
        !(mount.mountPath === path || mount.mountPath.startsWith(`${path}/`) ||
          path.startsWith(`${mount.mountPath}/`)),
        `${mount.mountPath} is mounted over ${path}`,
      );
    }
    if (mount.readOnly !== true) writable.push(mount.mountPath);
  }
  assertEquals(writable, ["/tmp"]);
  const tmp = CONTAINER.volumeMounts!.find((m) => m.mountPath === "/tmp")!;
  assert(volumes.get(tmp.name)?.emptyDir !== undefined, "/tmp is no emptyDir");
});

Deno.test("the pod meets the restricted Pod Security Standard", () => {
  const namespace = the<INamespace>("Namespace");
  assertEquals(
    namespace.metadata!.labels?.["pod-security.kubernetes.io/enforce"],
    "restricted",
  );
  const context = CONTAINER.securityContext!;
  assertEquals(POD.securityContext?.runAsNonRoot, true);
  assertEquals(context.allowPrivilegeEscalation, false);
  assert(context.privileged !== true, "privileged");
  assertEquals(context.capabilities?.drop, ["ALL"]);
  assertEquals(context.capabilities?.add, undefined);
  assertEquals(POD.securityContext?.seccompProfile?.type, "RuntimeDefault");
  assertEquals(context.seccompProfile?.type, "RuntimeDefault");
  assert(!POD.hostNetwork && !POD.hostPID && !POD.hostIPC, "host namespace");
  for (const volume of POD.volumes ?? []) {
    const sources = Object.keys(volume).filter((k) => k !== "name");
    assertEquals(sources.length, 1, volume.name);
    assert(
      ["configMap", "secret", "emptyDir", "projected", "downwardAPI"]
        .includes(sources[0]!),
      `volume ${volume.name} is a ${sources[0]}`,
    );
  }
  assertEquals(POD.automountServiceAccountToken, false);
  assertEquals(
    the<IServiceAccount>("ServiceAccount").automountServiceAccountToken,
    false,
  );
});

Deno.test("liveness asks /health, readiness /ready, both on the main port", () => {
  const main = DOCKERFILE.exposed[0]!;
  for (
    const [probe, path] of [
      [CONTAINER.livenessProbe, "/health"],
      [CONTAINER.startupProbe, "/health"],
      [CONTAINER.readinessProbe, "/ready"],
    ] as const
  ) {
    assert(probe?.httpGet !== undefined, `no httpGet probe for ${path}`);
    assertEquals(probe.httpGet.path, path);
    assertEquals(containerPort(probe.httpGet.port), main);
    assert((probe.httpGet.scheme ?? "HTTP") === "HTTP", "the pod speaks HTTP");
  }
});

Deno.test("Prometheus scrapes the metrics listener that the settings open", () => {
  const annotations = DEPLOYMENT.spec!.template.metadata!.annotations ?? {};
  assertEquals(annotations["prometheus.io/scrape"], "true");
  assertEquals(annotations["prometheus.io/path"], "/metrics");
  const port = Number(ENV.METRICS_PORT);
  assert(Number.isInteger(port) && port > 0, "METRICS_PORT is not set");
  assertEquals(Number(annotations["prometheus.io/port"]), port);
  assertEquals(containerPort("metrics"), port);
  assert(port !== setting("PORT", 8443), "metrics share the MCP port");
  // Reachable by the scraper on the pod address, and only by it (below).
  assertEquals(ENV.METRICS_HOST, "0.0.0.0");
});

Deno.test("the termination grace period covers the preStop pause and the drain", () => {
  const preStop = CONTAINER.lifecycle?.preStop;
  const pause = preStop?.sleep?.seconds ??
    Number(preStop?.exec?.command?.at(-1) ?? NaN);
  assert(Number.isInteger(pause) && pause > 0, "no preStop pause");
  const grace = setting("SHUTDOWN_GRACE_SECONDS", 25);
  const period = POD.terminationGracePeriodSeconds ?? 30;
  assert(
    period >= pause + grace + 5,
    `terminationGracePeriodSeconds ${period} < preStop ${pause} + SHUTDOWN_GRACE_SECONDS ${grace} + 5 s margin`,
  );
  // A rollout never drains the last ready replica, nor does a node drain.
  assertEquals(DEPLOYMENT.spec!.strategy?.rollingUpdate?.maxUnavailable, 0);
  assert((DEPLOYMENT.spec!.replicas ?? 1) >= 2, "fewer than 2 replicas");
  const budget = the<IPodDisruptionBudget>("PodDisruptionBudget").spec!;
  assert(
    budget.maxUnavailable === 1 || budget.minAvailable === 1,
    "the PodDisruptionBudget keeps no replica",
  );
});

Deno.test("the memory limit holds every executor at its limit plus the gateway", async () => {
  const readme = await Deno.readTextFile(`${PROJECT_ROOT}README.md`);
  // The gateway's own peak in the README's burst measurement.
  const peak = /gateway alone (\d+) MB/.exec(readme);
  assert(peak !== null, "README's Performance table has no gateway peak");
  const mib = 2 ** 20;
  const executors = setting("EXECUTOR_MAX_CONCURRENT", DEFAULT_MAX_CONCURRENT) *
    setting("EXECUTOR_MAX_MEMORY_MB", DEFAULT_EXECUTOR_MEMORY_MB) * mib;
  const tmpfs = (POD.volumes ?? []).reduce(
    (sum, v) =>
      sum +
      (v.emptyDir?.medium === "Memory"
        ? quantity(v.emptyDir.sizeLimit ?? "Infinity")
        : 0),
    0,
  );
  const { requests, limits } = CONTAINER.resources!;
  const limit = quantity(limits?.memory);
  const budget = executors + Number(peak[1]) * mib + tmpfs;
  assert(
    limit >= budget,
    `memory limit ${limit / mib} MiB < ${
      budget / mib
    } MiB (executors + gateway peak + memory-backed /tmp)`,
  );
  assert(quantity(requests?.memory) <= limit, "memory request > limit");
  assert(
    quantity(requests?.cpu) <= quantity(limits?.cpu),
    "cpu request > limit",
  );
});

/** The ports of a rule, as numbers with their protocol. */
function portsOf(ports: INetworkPolicyPort[] | undefined): string[] {
  return (ports ?? []).map((p) => `${p.port}/${p.protocol ?? "TCP"}`);
}

Deno.test("the NetworkPolicy admits the ingress controller and Prometheus, nothing else", () => {
  const spec = POLICY.spec!;
  assertEquals([...spec.policyTypes!].sort(), ["Egress", "Ingress"]);
  const ingress = spec.ingress ?? [];
  for (const rule of ingress) {
    assert((rule.from ?? []).length > 0, "an ingress rule admits everyone");
  }
  assertEquals(
    ingress.flatMap((rule) => portsOf(rule.ports)).sort(),
    [`${setting("PORT", 8443)}/TCP`, `${ENV.METRICS_PORT}/TCP`].sort(),
  );
});

Deno.test("the NetworkPolicy lets the pod reach DNS, the CCP, Redis and the targets only", () => {
  const egress = POLICY.spec!.egress ?? [];
  for (const rule of egress) {
    assert((rule.to ?? []).length > 0, "an egress rule reaches everywhere");
    assert((rule.ports ?? []).length > 0, "an egress rule opens every port");
    for (const peer of rule.to!) {
      const cidr = peer.ipBlock?.cidr;
      assert(cidr !== "0.0.0.0/0" && cidr !== "::/0", "egress to anywhere");
    }
  }
  const open = new Set(egress.flatMap((rule) => portsOf(rule.ports)));
  const ccp = new URL(ENV.CYBERARK_CCP_URL!);
  const redis = new URL(ENV.REDIS_URL!);
  const expected = [
    "53/UDP",
    "53/TCP",
    `${ccp.port || (ccp.protocol === "https:" ? 443 : 80)}/TCP`,
    `${redis.port || 6379}/TCP`,
    // ssh, WinRM over HTTP and HTTPS, PostgreSQL, MySQL, SQL Server
    ...[22, 5985, 5986, 5432, 3306, 1433].map((port) => `${port}/TCP`),
  ];
  for (const port of expected) assert(open.has(port), `no egress to ${port}`);
  assertEquals(open.size, expected.length, `egress ports ${[...open]}`);
});

Deno.test("every setting is a variable of the service, and secrets live in Secrets", () => {
  const { config, secret } = envSources();
  const configNames = Object.keys(config.data ?? {});
  const secretNames = Object.keys(secretValues(secret));
  const known = new Set(CONFIG_VARIABLES);
  for (const name of [...configNames, ...secretNames]) {
    assert(known.has(name), `${name} is no configuration variable`);
  }
  for (const name of SECRET_VARIABLES) {
    assert(!configNames.includes(name), `${name} belongs in the Secret`);
  }
  for (const name of secretNames) {
    assert(!configNames.includes(name), `${name} is set twice`);
  }
  // Several replicas share handles only through Redis.
  assertEquals(ENV.HANDLE_STORE, "redis");
  assertEquals(ENV.LOG_FORMAT, "json");
  assert(ENV.ALLOWED_HOSTS !== "*", "ALLOWED_HOSTS=* turns the check off");
});

function randomHex(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/**
 * Lays out under `root` the files the pod's volumes hold at their mount
 * paths (ConfigMap and Secret keys; an empty directory for an emptyDir),
 * with the PFX replaced by `pfx` when given.
 */
async function mirrorMounts(root: string, pfx?: Uint8Array): Promise<void> {
  const volumes = new Map<string, IVolume>(
    (POD.volumes ?? []).map((v) => [v.name, v]),
  );
  for (const mount of CONTAINER.volumeMounts ?? []) {
    const dir = `${root}${mount.mountPath}`;
    await Deno.mkdir(dir, { recursive: true });
    const volume = volumes.get(mount.name)!;
    let files: Record<string, string> = {};
    if (volume.configMap) {
      files = the<IConfigMap>("ConfigMap", volume.configMap.name).data ?? {};
    } else if (volume.secret) {
      files = secretValues(
        the<ISecret>("Secret", volume.secret.secretName),
      );
    }
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
  }
  if (pfx !== undefined) {
    await Deno.writeFile(`${root}${ENV.CYBERARK_CERT_PFX_PATH}`, pfx);
  }
}

/** The pod's environment with every path under a mount moved under `root`. */
function mountedEnv(root: string): Record<string, string> {
  const mounts = (CONTAINER.volumeMounts ?? []).map((m) => m.mountPath);
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(ENV)) {
    env[name] = mounts.some((m) => value.startsWith(`${m}/`))
      ? `${root}${value}`
      : value;
  }
  return env;
}

/** {@linkcode mountedEnv} with real secrets in place of the placeholders. */
function liveEnv(root: string, pfxPassword: string): Record<string, string> {
  const env = mountedEnv(root);
  const redis = new URL(ENV.REDIS_URL!);
  redis.password = randomHex();
  return {
    ...env,
    MCP_API_KEYS: `claude-code:${randomHex()}`,
    AUDIT_CHAIN_KEY: randomHex(),
    CYBERARK_CERT_PFX_PASSWORD: pfxPassword,
    REDIS_URL: redis.href,
  };
}

Deno.test("the Secret's placeholders are refused by the service", async () => {
  const root = await Deno.makeTempDir({ prefix: "mcp-k8s-pod-" });
  try {
    await mirrorMounts(root);
    const env = mountedEnv(root);
    const refused = (changes: Record<string, string>): string | undefined => {
      try {
        loadConfig({ env: { ...env, ...changes }, home: "/nonexistent" });
        return undefined;
      } catch (error) {
        assert(error instanceof ConfigError, String(error));
        return error.variable;
      }
    };
    assertEquals(refused({}), "MCP_API_KEYS");
    assertEquals(
      refused({ MCP_API_KEYS: `claude-code:${randomHex()}` }),
      "AUDIT_CHAIN_KEY",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("with real secrets the settings pass the service's configuration check", async () => {
  const tls = createTlsFixtures();
  const root = await Deno.makeTempDir({ prefix: "mcp-k8s-pod-" });
  try {
    await mirrorMounts(root, tls.clientPfx);
    const env = liveEnv(root, tls.clientPfxPassword);
    const config = loadConfig({ env, home: "/nonexistent" });
    // The one warning is the metrics listener on the pod address, which the
    // NetworkPolicy restricts to Prometheus.
    assertEquals(config.warnings.length, 1, config.warnings.join("\n"));
    assertMatch(config.warnings[0]!, /^METRICS_HOST=0\.0\.0\.0: /);
    assertEquals(config.handleStore.kind, "redis");
    assertEquals(config.http.port, DOCKERFILE.exposed[0]);
    assertEquals(config.metrics, {
      enabled: true,
      hostname: "0.0.0.0",
      port: Number(ENV.METRICS_PORT),
    });
    assert(config.policy.policy !== undefined, "no policy loaded");
    assertEquals(
      config.cyberark.pfxPath,
      `${root}${ENV.CYBERARK_CERT_PFX_PATH}`,
    );
    assert(config.auditChain.key !== undefined, "no audit chain key");
    assertEquals(
      config.shutdown.graceSeconds,
      setting("SHUTDOWN_GRACE_SECONDS", 25),
    );

    // The operator's check, as a process: it also opens the PFX with its
    // password (the CCP client is built, nothing is sent).
    const denoDir = Deno.env.get("DENO_DIR");
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "check-config"],
      cwd: PROJECT_ROOT,
      clearEnv: true,
      env: {
        ...env,
        PATH: `${Deno.execPath().replace(/\/[^/]*$/, "")}:/usr/bin:/bin`,
        HOME: Deno.env.get("HOME") ?? root,
        ...(denoDir === undefined ? {} : { DENO_DIR: denoDir }),
        NO_COLOR: "1",
      },
      stdin: "null",
    }).output();
    const decode = (bytes: Uint8Array): string =>
      new TextDecoder().decode(bytes);
    assertEquals(
      decode(output.stdout).trim(),
      "Config OK",
      decode(output.stderr),
    );
    assertEquals(output.code, 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
