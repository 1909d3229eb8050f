/**
 * What the lab needs from the machine. On a fresh Debian machine, as root with apt, missing packages
 * are installed; otherwise the one `apt-get install` line needed is printed and the lab stops.
 */
import { existsSync } from 'node:fs';
import { execFileAsync } from './process.js';

interface Requirement {
  binary: string;
  pkg: string;
}

export const PG_BIN = '/usr/lib/postgresql/15/bin';

const REQUIREMENTS: Requirement[] = [
  { binary: '/usr/sbin/sshd', pkg: 'openssh-server' },
  { binary: '/usr/bin/ssh-keygen', pkg: 'openssh-client' },
  { binary: '/usr/bin/prometheus', pkg: 'prometheus' },
  { binary: '/usr/bin/promtool', pkg: 'prometheus' },
  { binary: '/usr/bin/prometheus-alertmanager', pkg: 'prometheus-alertmanager' },
  { binary: '/usr/sbin/nginx', pkg: 'nginx' },
  { binary: '/usr/bin/redis-server', pkg: 'redis-server' },
  { binary: '/usr/bin/redis-cli', pkg: 'redis-tools' },
  { binary: `${PG_BIN}/initdb`, pkg: 'postgresql-15' },
  { binary: '/usr/bin/psql', pkg: 'postgresql-client-15' },
  { binary: '/usr/bin/unshare', pkg: 'util-linux' },
  { binary: '/usr/bin/nsenter', pkg: 'util-linux' },
  // The bot's charts are rasterised with DejaVu Sans.
  { binary: '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', pkg: 'fonts-dejavu-core' },
];

export function missingPackages(): string[] {
  return [...new Set(REQUIREMENTS.filter((r) => !existsSync(r.binary)).map((r) => r.pkg))];
}

export async function ensurePrerequisites(log: (line: string) => void): Promise<void> {
  const missing = missingPackages();
  if (missing.length === 0) return;
  const line = `apt-get install -y ${missing.join(' ')}`;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !existsSync('/usr/bin/apt-get')) {
    throw new Error(`the lab needs Debian packages that are not installed; run:\n  sudo ${line}`);
  }
  log(`installing ${missing.join(', ')} (apt-get)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await execFileAsync('apt-get', ['update', '-q'], { env, maxBuffer: 64 * 1024 * 1024 });
  await execFileAsync('apt-get', ['install', '-y', '-q', ...missing], { env, maxBuffer: 64 * 1024 * 1024 });
  const still = missingPackages();
  if (still.length > 0) throw new Error(`apt-get did not provide: ${still.join(', ')}`);
}

/**
 * The bot keeps its own state in the machine's PostgreSQL (127.0.0.1:5432) and its queues in the
 * machine's Redis (127.0.0.1:6379). Start them when they do not answer, as a fresh machine needs.
 */
export async function ensureMachineServices(log: (line: string) => void): Promise<void> {
  const answers = async (cmd: string, args: string[]) =>
    execFileAsync(cmd, args, { timeout: 5000 }).then(
      () => true,
      () => false,
    );
  if (!(await answers(`${PG_BIN}/pg_isready`, ['-q', '-h', '127.0.0.1', '-p', '5432']))) {
    log('starting the machine PostgreSQL (127.0.0.1:5432)…');
    const { stdout } = await execFileAsync('ls', ['/etc/postgresql']);
    const version = stdout.split('\n').find(Boolean);
    if (!version) throw new Error('no PostgreSQL cluster in /etc/postgresql: apt-get install -y postgresql');
    await execFileAsync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']);
  }
  if (!(await answers('/usr/bin/redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'ping']))) {
    log('starting the machine Redis (127.0.0.1:6379)…');
    await execFileAsync('mkdir', ['-p', '/var/lib/redis', '/var/log/redis']);
    await execFileAsync('/usr/bin/redis-server', [
      '--daemonize',
      'yes',
      '--bind',
      '127.0.0.1',
      '--port',
      '6379',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      '/var/lib/redis',
      '--logfile',
      '/var/log/redis/lab.log',
    ]);
  }
}
