/**
 * What every section parser of this folder receives besides the values.
 *
 * @module
 */

/** Shared by the section parsers of one `loadConfig()` call. */
export interface ParseContext {
  /** The home directory for `~` in paths. */
  readonly home: string;
  /** Non-fatal findings, in the order the sections are read. */
  readonly warnings: string[];
}
