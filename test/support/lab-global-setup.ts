/**
 * Integration and e2e tests run against the real lab. Bring it up when it is not already up (a
 * fresh machine installs what it lacks). The lab is left running so the next run is fast;
 * `npm run lab -- down` stops it (CI does so at the end).
 */
import { Lab } from '../../lab/lab.js';

export default async function setup(): Promise<void> {
  const lab = new Lab({ log: (line) => process.stderr.write(`lab: ${line}\n`) });
  const status = await lab.status();
  if (!status.up) await lab.up();
}
