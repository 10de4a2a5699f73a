import { constants } from 'node:os';

/** `SIGKILL` for 9, and so on; `SIG<n>` for a number this platform does not name. */
export function signalName(signalNumber: number): string {
  const entry = Object.entries(constants.signals).find(([, value]) => value === signalNumber);
  return entry ? entry[0] : `SIG${signalNumber}`;
}
