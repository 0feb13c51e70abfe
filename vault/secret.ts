/**
 * A value type for plaintext secrets that cannot print itself.
 *
 * @module
 */

const REDACTED = "[redacted]";

/**
 * A secret string. `toString`, `toJSON`, `Deno.inspect` and Node's inspect all
 * print `[redacted]`; the plaintext is only reachable through {@linkcode Secret.reveal}.
 */
export class Secret {
  readonly #value: string;

  /** Wraps a plaintext value. */
  constructor(value: string) {
    if (typeof value !== "string") {
      throw new TypeError("Secret value must be a string");
    }
    this.#value = value;
  }

  /**
   * Returns the plaintext. Call it only where the value must leave the
   * process (the executor's stdin) or unlock local material (a PFX file).
   */
  reveal(): string {
    return this.#value;
  }

  /** True when the secret is the empty string. */
  get isEmpty(): boolean {
    return this.#value.length === 0;
  }

  /** Always `[redacted]`. */
  toString(): string {
    return REDACTED;
  }

  /** Always `[redacted]`. */
  toJSON(): string {
    return REDACTED;
  }

  /** Always `[redacted]` (Deno.inspect, console.log). */
  [Symbol.for("Deno.customInspect")](): string {
    return REDACTED;
  }

  /** Always `[redacted]` (node:util inspect). */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return REDACTED;
  }
}
