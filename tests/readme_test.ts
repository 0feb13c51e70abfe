/**
 * The README is the operations manual: its JSON, env and tool examples must
 * match the real configuration schema and the real tool list.
 */
import { assert, assertEquals } from "./support/assert.ts";
import {
  CREDENTIAL_FETCHED_FIELDS,
  LOG_LINE_HEAD,
} from "./support/log_lines.ts";
import { PROJECT_ROOT } from "./support/paths.ts";
import { AUDIT_CHAIN_FIELDS } from "../gateway/audit_chain/mod.ts";
import {
  CONFIG_VARIABLES,
  ConfigError,
  loadConfig,
} from "../gateway/config/mod.ts";
import { createServices } from "../gateway/services.ts";
import { createCcpClient } from "../gateway/ccp_setup.ts";
import { ENDPOINT_NAMES, handleMcpRequest } from "../gateway/mcp_endpoints.ts";

const README = await Deno.readTextFile(`${PROJECT_ROOT}README.md`);
const DOCS = await Promise.all(
  ["install-bare-metal.md", "docker.md", "operations.md"].map(async (name) => {
    try {
      return await Deno.readTextFile(`${PROJECT_ROOT}docs/${name}`);
    } catch {
      return "";
    }
  }),
);
const ENV_EXAMPLE = await Deno.readTextFile(`${PROJECT_ROOT}.env.example`);
const BASE_ENV = {
  MCP_API_KEYS: "0123456789abcdef0123456789abcdef",
  CYBERARK_CCP_URL:
    "https://cyberark.example.internal/AIMWebService/api/Accounts",
  CYBERARK_APP_ID: "MCP-Privileged-Service",
};

function codeBlocks(markdown: string, language: string): string[] {
  const blocks: string[] = [];
  const pattern = new RegExp("```" + language + "\\n([\\s\\S]*?)```", "g");
  for (const match of markdown.matchAll(pattern)) blocks.push(match[1]!);
  return blocks;
}

async function listTools(): Promise<
  Record<string, { name: string; args: string[] }[]>
> {
  const config = loadConfig({ env: BASE_ENV, home: "/nonexistent" });
  const ccp = await createCcpClient(config.cyberark);
  const running = await createServices(config, ccp);
  const { services } = running;
  const out: Record<string, { name: string; args: string[] }[]> = {};
  for (const endpoint of ENDPOINT_NAMES) {
    const response = await handleMcpRequest(
      endpoint,
      new Request(`http://localhost/mcp/${endpoint}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      }),
      {
        services,
        clientIp: "127.0.0.1",
        principal: { name: "test", auth: "api_key" },
      },
    );
    const json = await response.json();
    out[endpoint] = json.result.tools.map((
      tool: { name: string; inputSchema: { properties?: object } },
    ) => ({
      name: tool.name,
      args: Object.keys(tool.inputSchema.properties ?? {}).sort(),
    }));
  }
  ccp.close();
  await running.close();
  return out;
}

Deno.test("README starts with the demo and test commands", () => {
  const first = codeBlocks(README, "sh")[0] ?? "";
  assert(/^deno task demo\b/m.test(first), "first command runs the demo");
  assert(/^deno task test\b/m.test(first), "second command runs the tests");
  const ci = Deno.readTextFileSync(`${PROJECT_ROOT}.ci/run`);
  assert(
    ci.includes("deno task test"),
    ".ci/run runs the README's test command",
  );
});

Deno.test("README's mcpServers JSON names the four real endpoints", () => {
  const json = codeBlocks(README, "json").map((b) => JSON.parse(b)).find((v) =>
    "mcpServers" in v
  );
  assert(json !== undefined, "README has an mcpServers block");
  assertEquals(Object.keys(json.mcpServers).sort(), [...ENDPOINT_NAMES].sort());
  for (
    const [name, server] of Object.entries(
      json.mcpServers as Record<string, Record<string, unknown>>,
    )
  ) {
    assertEquals(server.type, "http");
    assert(String(server.url).endsWith(`/mcp/${name}`), `${name} url`);
    assertEquals(Object.keys(server.headers as object), ["X-API-Key"]);
  }
});

Deno.test("README's JSON log example has exactly the credential_fetched fields and the audit chain's", () => {
  const line = codeBlocks(README, "json").map((b) => JSON.parse(b)).find((v) =>
    v.event === "credential_fetched"
  );
  assertEquals(
    Object.keys(line).sort(),
    [...LOG_LINE_HEAD, ...CREDENTIAL_FETCHED_FIELDS, ...AUDIT_CHAIN_FIELDS]
      .sort(),
  );
});

Deno.test("every configuration variable is documented in README and .env.example, and nothing else is", () => {
  const tableVariables = new Set<string>();
  const section = README.slice(
    README.indexOf("## 6. Configuration walkthrough"),
    README.indexOf("## 7."),
  );
  for (const row of section.split("\n").filter((l) => l.startsWith("| `"))) {
    const firstCell = row.split("|")[1] ?? "";
    for (const match of firstCell.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) {
      tableVariables.add(match[1]!);
    }
  }
  assertEquals([...tableVariables].sort(), [...CONFIG_VARIABLES].sort());
  const exampleVariables = new Set(
    [...ENV_EXAMPLE.matchAll(/^#?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!),
  );
  for (const name of CONFIG_VARIABLES.filter((n) => n !== "ENV_FILE")) {
    assert(exampleVariables.has(name), `.env.example documents ${name}`);
  }
  for (const name of exampleVariables) {
    assert(CONFIG_VARIABLES.includes(name), `${name} is a real variable`);
  }
});

Deno.test("every env block in README and docs is a valid configuration fragment", () => {
  let checked = 0;
  for (const text of [README, ...DOCS]) {
    for (const block of codeBlocks(text, "env")) {
      const values: Record<string, string> = {};
      for (
        const match of block.matchAll(/^([A-Z][A-Z0-9_]+)=(\S*)\s*$/gm)
      ) {
        values[match[1]!] = match[2]!;
      }
      const env: Record<string, string> = { ...BASE_ENV, ...values };
      // A fragment that turns API keys off replaces the base's keys.
      if (values.MCP_AUTH === "oauth") delete env.MCP_API_KEYS;
      try {
        loadConfig({ env, home: "/home/mcpuser" });
      } catch (error) {
        assert(error instanceof ConfigError, String(error));
        assert(
          /cannot be read|not found|readable/.test(error.message),
          `${block}: ${error.message}`,
        );
      }
      checked++;
    }
  }
  assert(checked >= 1, "no env block checked");
});

Deno.test("every KEY=value example in README and docs is valid for the real config schema", () => {
  const checked: string[] = [];
  for (const text of [README, ...DOCS]) {
    for (
      const block of [
        ...codeBlocks(text, "sh"),
        ...codeBlocks(text, "bash"),
      ]
    ) {
      for (
        const match of block.matchAll(
          /^(?:export )?([A-Z][A-Z0-9_]+)=(\S*)\s*$/gm,
        )
      ) {
        const [, name, value] = match as unknown as [string, string, string];
        if (!CONFIG_VARIABLES.includes(name) || name === "ENV_FILE") continue;
        if (/[<>]/.test(value)) continue; // a placeholder such as <output of openssl rand -hex 32>
        try {
          loadConfig({
            env: { ...BASE_ENV, [name]: value },
            home: "/home/mcpuser",
          });
        } catch (error) {
          assert(error instanceof ConfigError, String(error));
          // Paths of files that only exist on a real host are fine; anything else is a wrong example.
          assert(
            /cannot be read|not found|readable/.test(error.message),
            `${name}=${value}: ${error.message}`,
          );
        }
        checked.push(name);
      }
    }
  }
  assert(checked.length >= 5, `checked ${checked.length} examples`);
});

Deno.test("README's tool table matches the real tools and their arguments", async () => {
  const tools = await listTools();
  const section = README.slice(
    README.indexOf("## 11. Usage examples"),
    README.indexOf("Example 1"),
  );
  const rows = section.split("\n").filter((l) => /^\| `[a-z_]+`/.test(l));
  const documented = rows.map((row) => {
    const cells = row.split("|").map((c) => c.trim());
    const name = cells[1]!.replaceAll("`", "");
    const endpoint = cells[2]!.replaceAll("`", "").replace("/mcp/", "");
    const args = [...cells[3]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!)
      .filter((a) => !["postgres", "mysql", "mssql"].includes(a));
    return { name, endpoint, args: args.sort() };
  });
  const real = Object.entries(tools).flatMap(([endpoint, list]) =>
    list.map((tool) => ({ name: tool.name, endpoint, args: tool.args }))
  );
  assertEquals(
    documented.sort((a, b) => a.name.localeCompare(b.name)),
    real.sort((a, b) => a.name.localeCompare(b.name)),
  );
});
