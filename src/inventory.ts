/**
 * The fleet the bot operates: hosts, their roles and SSH settings, the services on them, the QNWIS
 * database and cache, and monitoring endpoints. Loaded from YAML and validated once; every problem
 * is reported with the exact key path (`hosts.app-02.ssh.port`) so an operator can fix the file
 * without guessing.
 *
 * Secrets are never inline: the inventory names the environment variable that holds each one.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError, type ConfigIssue, UnknownHostError } from './errors.js';

export const HOST_ROLES = ['app', 'db-primary', 'db-replica', 'redis', 'lb'] as const;
export type HostRole = (typeof HOST_ROLES)[number];

/** Host names double as Slack arguments and BullMQ job ids: keep them short and boring. */
const hostName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and "-"');
const envVarName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name');
const absolutePath = z.string().startsWith('/', 'must be an absolute path on the host');
const sha256Fingerprint = z
  .string()
  .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'must be an OpenSSH SHA256 fingerprint ("SHA256:…")');
const port = z.number().int().min(1).max(65535);
/** `{address}` in a URL template is replaced by the host's address. */
const urlTemplate = z
  .string()
  .refine((s) => /^https?:\/\//.test(s), 'must start with http:// or https://')
  .refine((s) => {
    try {
      new URL(s.replaceAll('{address}', 'host.invalid'));
      return true;
    } catch {
      return false;
    }
  }, 'is not a valid URL');

const sshDefaultsSchema = z
  .object({
    port: port.default(22),
    user: z.string().min(1).default('root'),
    /** Private key used to log in; relative paths are resolved against the inventory file. */
    key_path: z.string().min(1).optional(),
    /** OpenSSH known_hosts file holding the pinned host keys. */
    known_hosts: z.string().min(1).optional(),
  })
  .strict();

const hostSshSchema = z
  .object({
    port: port.optional(),
    user: z.string().min(1).optional(),
    key_path: z.string().min(1).optional(),
    /** Pinned host key fingerprint; wins over `known_hosts`. */
    host_key: sha256Fingerprint.optional(),
  })
  .strict();

const hostSchema = z
  .object({
    address: z.string().min(1),
    roles: z.array(z.enum(HOST_ROLES)).min(1),
    ssh: hostSshSchema.default({}),
    description: z.string().optional(),
  })
  .strict();

const serviceSchema = z
  .object({
    /** systemd unit name on the host. */
    unit: z.string().regex(/^[A-Za-z0-9@._-]+$/, 'must be a systemd unit name'),
    /** The service runs on every host that has one of these roles. */
    roles: z.array(z.enum(HOST_ROLES)).min(1),
    health_url: urlTemplate.optional(),
    health_detailed_url: urlTemplate.optional(),
    maintenance_url: urlTemplate.optional(),
    /** Env var holding the bearer token for `/health/detailed` and `/admin/maintenance`. */
    admin_token_env: envVarName.optional(),
    logs: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/), absolutePath).default({}),
  })
  .strict();

const databaseSchema = z
  .object({
    name: z.string().min(1),
    port: port.default(5432),
    user: z.string().min(1),
    password_env: envVarName.optional(),
    /** Database that restore drills may overwrite; anything else needs the stricter approval. */
    scratch_database: z.string().min(1).optional(),
    backup_dir: absolutePath.default('/backups'),
    /** Connection pool size of the app, to judge "connections vs pool". */
    app_pool_size: z.number().int().positive().default(100),
  })
  .strict();

const cacheSchema = z
  .object({
    port: port.default(6379),
    password_env: envVarName.optional(),
    db: z.number().int().min(0).max(15).default(0),
    /** Only keys matching this glob may ever be read or deleted by the bot. */
    key_pattern: z
      .string()
      .regex(/^[A-Za-z0-9:_.-]+:\*$/, 'must be a literal prefix ending in ":*", e.g. "qnwis:cache:*"')
      .default('qnwis:cache:*'),
  })
  .strict();

const monitoringSchema = z
  .object({
    prometheus_url: z.url().optional(),
    alertmanager_url: z.url().optional(),
    /** Public URL checked through the load balancer (rolling restart health gate, status). */
    load_balancer_url: z.url().optional(),
    /** TLS endpoints whose certificate expiry the bot reports. */
    tls_endpoints: z.array(z.string().regex(/^[A-Za-z0-9.-]+:\d+$/, 'must be "host:port"')).default([]),
  })
  .strict();

const inventorySchema = z
  .object({
    version: z.literal(1),
    environment: z.string().min(1).default('production'),
    ssh: sshDefaultsSchema.default({ port: 22, user: 'root' }),
    hosts: z.record(hostName, hostSchema).refine((h) => Object.keys(h).length > 0, 'needs at least one host'),
    services: z.record(hostName, serviceSchema).default({}),
    database: databaseSchema,
    cache: cacheSchema,
    monitoring: monitoringSchema.default({ tls_endpoints: [] }),
  })
  .strict()
  .superRefine((inv, ctx) => {
    for (const [name, host] of Object.entries(inv.hosts)) {
      const keyPath = host.ssh.key_path ?? inv.ssh.key_path;
      if (!keyPath) {
        ctx.addIssue({
          code: 'custom',
          path: ['hosts', name, 'ssh', 'key_path'],
          message: 'no SSH key: set it here or in ssh.key_path',
        });
      }
      if (!host.ssh.host_key && !inv.ssh.known_hosts) {
        ctx.addIssue({
          code: 'custom',
          path: ['hosts', name, 'ssh', 'host_key'],
          message: 'host key is not pinned: set host_key here or ssh.known_hosts',
        });
      }
    }
    const count = (role: HostRole) => Object.values(inv.hosts).filter((h) => h.roles.includes(role)).length;
    if (count('db-primary') > 1) {
      ctx.addIssue({ code: 'custom', path: ['hosts'], message: 'more than one host has role db-primary' });
    }
  });

export type InventoryFile = z.infer<typeof inventorySchema>;

export interface HostSsh {
  readonly port: number;
  readonly user: string;
  /** Absolute path of the private key. */
  readonly keyPath: string;
  /** Pinned fingerprint, if given inline. */
  readonly hostKey: string | undefined;
  /** Absolute path of a known_hosts file, if the key is pinned there. */
  readonly knownHostsPath: string | undefined;
}

export interface Host {
  readonly name: string;
  readonly address: string;
  readonly roles: readonly HostRole[];
  readonly ssh: HostSsh;
  readonly description: string | undefined;
}

export interface Service {
  readonly name: string;
  readonly unit: string;
  readonly roles: readonly HostRole[];
  readonly healthUrl: string | undefined;
  readonly healthDetailedUrl: string | undefined;
  readonly maintenanceUrl: string | undefined;
  readonly adminTokenEnv: string | undefined;
  readonly logs: Readonly<Record<string, string>>;
}

export interface Inventory {
  readonly environment: string;
  /** Absolute path of the file this was loaded from. */
  readonly source: string;
  readonly hosts: ReadonlyMap<string, Host>;
  readonly services: ReadonlyMap<string, Service>;
  readonly database: {
    readonly name: string;
    readonly port: number;
    readonly user: string;
    readonly passwordEnv: string | undefined;
    readonly scratchDatabase: string | undefined;
    readonly backupDir: string;
    readonly appPoolSize: number;
  };
  readonly cache: {
    readonly port: number;
    readonly passwordEnv: string | undefined;
    readonly db: number;
    readonly keyPattern: string;
  };
  readonly monitoring: {
    readonly prometheusUrl: string | undefined;
    readonly alertmanagerUrl: string | undefined;
    readonly loadBalancerUrl: string | undefined;
    readonly tlsEndpoints: readonly string[];
  };
}

/** Parses and validates inventory YAML text. `source` is the file path (for messages and relative paths). */
export function parseInventory(text: string, source: string): Inventory {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      `inventory ${source}`,
      doc.errors.map((e) => ({
        path: `line ${e.linePos?.[0]?.line ?? '?'}`,
        message: e.message.split('\n')[0] ?? e.message,
      })),
    );
  }
  const parsed = inventorySchema.safeParse(doc.toJS());
  if (!parsed.success) {
    throw new ConfigError(`inventory ${source}`, parsed.error.issues.map(zodIssueToConfigIssue));
  }
  return toInventory(parsed.data, path.resolve(source));
}

export function loadInventory(file: string): Inventory {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`inventory ${file}`, [
      {
        path: 'INVENTORY_PATH',
        message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      },
    ]);
  }
  return parseInventory(text, file);
}

export function zodIssueToConfigIssue(issue: z.core.$ZodIssue): ConfigIssue {
  const keyPath = issue.path.map(String).join('.') || '(root)';
  return { path: keyPath, message: issue.message };
}

function toInventory(file: InventoryFile, source: string): Inventory {
  const dir = path.dirname(source);
  const resolve = (p: string) => path.resolve(dir, p);
  const hosts = new Map<string, Host>();
  for (const [name, h] of Object.entries(file.hosts)) {
    // superRefine guarantees a key path exists.
    const keyPath = h.ssh.key_path ?? file.ssh.key_path ?? '';
    hosts.set(name, {
      name,
      address: h.address,
      roles: h.roles,
      description: h.description,
      ssh: {
        port: h.ssh.port ?? file.ssh.port,
        user: h.ssh.user ?? file.ssh.user,
        keyPath: resolve(keyPath),
        hostKey: h.ssh.host_key,
        knownHostsPath: file.ssh.known_hosts ? resolve(file.ssh.known_hosts) : undefined,
      },
    });
  }
  const services = new Map<string, Service>();
  for (const [name, s] of Object.entries(file.services)) {
    services.set(name, {
      name,
      unit: s.unit,
      roles: s.roles,
      healthUrl: s.health_url,
      healthDetailedUrl: s.health_detailed_url,
      maintenanceUrl: s.maintenance_url,
      adminTokenEnv: s.admin_token_env,
      logs: s.logs,
    });
  }
  return {
    environment: file.environment,
    source,
    hosts,
    services,
    database: {
      name: file.database.name,
      port: file.database.port,
      user: file.database.user,
      passwordEnv: file.database.password_env,
      scratchDatabase: file.database.scratch_database,
      backupDir: file.database.backup_dir,
      appPoolSize: file.database.app_pool_size,
    },
    cache: {
      port: file.cache.port,
      passwordEnv: file.cache.password_env,
      db: file.cache.db,
      keyPattern: file.cache.key_pattern,
    },
    monitoring: {
      prometheusUrl: file.monitoring.prometheus_url,
      alertmanagerUrl: file.monitoring.alertmanager_url,
      loadBalancerUrl: file.monitoring.load_balancer_url,
      tlsEndpoints: file.monitoring.tls_endpoints,
    },
  };
}

/** The host by name; host names from people and webhooks must pass through here. */
export function getHost(inv: Inventory, name: string, role?: HostRole): Host {
  const host = inv.hosts.get(name);
  if (!host) throw new UnknownHostError(name);
  if (role && !host.roles.includes(role)) throw new UnknownHostError(name, `does not have role ${role}`);
  return host;
}

export function hostsWithRole(inv: Inventory, role: HostRole): Host[] {
  return [...inv.hosts.values()].filter((h) => h.roles.includes(role));
}

/** Expands `{address}` in a service URL template for one host. */
export function serviceUrl(template: string, host: Host): string {
  return template.replaceAll('{address}', host.address);
}
