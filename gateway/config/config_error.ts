/**
 * The one error configuration loading throws.
 *
 * @module
 */

/** One invalid setting, as one line: variable, problem, fix. */
export class ConfigError extends Error {
  /** The environment variable at fault. */
  readonly variable: string;

  /** Creates the error for one variable. */
  constructor(variable: string, message: string) {
    super(`Invalid configuration: ${variable} ${message}`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}
