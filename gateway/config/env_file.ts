/**
 * `ENV_FILE`: the `.env` file whose values fill in what the environment
 * lacks.
 *
 * @module
 */
import { parseDotenv } from "../dotenv.ts";
import { ConfigError } from "./config_error.ts";
import { fileErrorName } from "./_paths.ts";

/**
 * Reads the variables of a `.env` file; none when `path` is undefined or the
 * file does not exist.
 *
 * @throws {ConfigError} naming ENV_FILE when the file exists but cannot be read or parsed
 */
export function readEnvFile(path: string | undefined): Record<string, string> {
  if (path === undefined) return {};
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw new ConfigError(
      "ENV_FILE",
      `"${path}" cannot be read (${
        fileErrorName(error)
      }); make it readable by the service user (chmod 600, owned by that user)`,
    );
  }
  try {
    return Object.fromEntries(parseDotenv(text, path));
  } catch (error) {
    throw new ConfigError("ENV_FILE", (error as Error).message);
  }
}
