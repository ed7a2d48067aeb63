/**
 * What went wrong, in one line, for a value that was thrown: the message of an `Error`, the text of a thrown
 * string, else `String(value)`. Written once: logs pass the error object itself (`{ err }`, pino serialises
 * it with its stack); this is for the places that need words, such as a ledger's `last_error` column, a status
 * page or a message to a person.
 */
export function errorMessage(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message;
  return typeof thrown === 'string' ? thrown : String(thrown);
}
