/**
 * PagerDuty REST API v2, the part the bot acts with: incidents (find by key, list open, update as a
 * person: acknowledge, resolve, escalate, reassign; notes), users by e-mail and on-calls.
 *
 * Over fetch rather than pdjs's `api()`: on a 429 pdjs sleeps 20 s three times inside the call,
 * and a click at 3 a.m. must answer at once with "PagerDuty is rate-limiting us, try again in N s"
 * (`ratelimit-reset` / `Retry-After`), while a background job reschedules itself.
 *
 * Writes need `From: <e-mail of a PagerDuty user>`: the person who clicked in Slack (their e-mail
 * from `users.info`), or the bot's own PagerDuty user when its clock escalates. An e-mail PagerDuty
 * does not know is `PagerDutyNoAccountError`, which the caller turns into a clear message.
 */
import { z } from 'zod';
import { PagerDutyRejectedError, PagerDutyUnavailableError, QnwisError } from '../../errors.js';

/** The e-mail is no PagerDuty user (PagerDuty's 1008 "Requester User Not Found"). */
export class PagerDutyNoAccountError extends QnwisError {
  readonly code = 'pagerduty_no_account';
  readonly email: string;
  constructor(email: string) {
    super(`${email} has no PagerDuty account`);
    this.email = email;
  }
}

const reference = z.looseObject({
  id: z.string(),
  summary: z.string().optional(),
  type: z.string().optional(),
});

const incidentSchema = z.looseObject({
  id: z.string(),
  incident_number: z.number().optional(),
  status: z.enum(['triggered', 'acknowledged', 'resolved']),
  incident_key: z.string().nullable().optional(),
  html_url: z.string().optional(),
  title: z.string().optional(),
  assignments: z.array(z.looseObject({ at: z.string().optional(), assignee: reference })).default([]),
  acknowledgements: z.array(z.looseObject({ at: z.string(), acknowledger: reference })).default([]),
  last_status_change_at: z.string().optional(),
  last_status_change_by: reference.nullable().optional(),
  resolved_at: z.string().nullable().optional(),
  escalation_policy: reference.nullable().optional(),
});

export type PagerDutyIncident = z.infer<typeof incidentSchema>;

const userSchema = z.looseObject({ id: z.string(), name: z.string(), email: z.string() });
export type PagerDutyUser = z.infer<typeof userSchema>;

const onCallSchema = z.looseObject({
  escalation_level: z.number(),
  escalation_policy: reference,
  user: z.looseObject({
    id: z.string(),
    summary: z.string().optional(),
    name: z.string().optional(),
    email: z.string().optional(),
  }),
  start: z.string().nullable().optional(),
  end: z.string().nullable().optional(),
});

export interface PagerDutyOnCall {
  readonly level: number;
  readonly policy: { readonly id: string; readonly name: string };
  readonly user: { readonly id: string; readonly name: string; readonly email: string | null };
  readonly start: string | null;
  readonly end: string | null;
}

const errorBody = z.looseObject({
  error: z.looseObject({
    message: z.string().optional(),
    code: z.number().optional(),
    errors: z.array(z.string()).optional(),
  }),
});

export interface PagerDutyRestOptions {
  /** https://api.pagerduty.com, or the stand-in. */
  baseUrl: string;
  token: string;
  timeoutMs?: number;
}

export type IncidentUpdate =
  | { readonly status: 'acknowledged' | 'resolved' }
  | { readonly escalation_level: number }
  | {
      readonly assignments: readonly {
        readonly assignee: { readonly id: string; readonly type: 'user_reference' };
      }[];
    };

export class PagerDutyRest {
  private readonly base: string;
  private readonly token: string;
  private readonly timeoutMs: number;

  constructor(opts: PagerDutyRestOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  private async call(
    method: 'GET' | 'PUT' | 'POST',
    path: string,
    opts: { query?: Record<string, string | string[]>; body?: unknown; from?: string } = {},
  ): Promise<unknown> {
    const url = new URL(`${this.base}${path}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      for (const one of Array.isArray(v) ? v : [v])
        url.searchParams.append(Array.isArray(v) ? `${k}[]` : k, one);
    }
    const headers: Record<string, string> = {
      authorization: `Token token=${this.token}`,
      accept: 'application/vnd.pagerduty+json;version=2',
    };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.from !== undefined) headers.from = opts.from;
    const what = `PagerDuty ${method} ${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new PagerDutyUnavailableError(`${what}: unreachable (${(err as Error).message})`, 2000, {
        cause: err,
      });
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (res.ok) return json;
    if (res.status === 429) {
      const reset = Number(res.headers.get('retry-after') ?? res.headers.get('ratelimit-reset') ?? '');
      const waitMs = Number.isFinite(reset) && reset > 0 ? Math.ceil(reset * 1000) : 5000;
      throw new PagerDutyUnavailableError(
        `${what}: rate limited (429), retry in ${Math.ceil(waitMs / 1000)} s`,
        waitMs,
        { rateLimited: true },
      );
    }
    if (res.status >= 500) throw new PagerDutyUnavailableError(`${what}: answered ${res.status}`, 2000);
    const parsed = errorBody.safeParse(json);
    const code = parsed.success ? parsed.data.error.code : undefined;
    if (code === 1008 && opts.from !== undefined) throw new PagerDutyNoAccountError(opts.from);
    const detail = parsed.success
      ? [parsed.data.error.message, ...(parsed.data.error.errors ?? [])].filter(Boolean).join(': ')
      : text.slice(0, 200);
    throw new PagerDutyRejectedError(
      `${what} refused (${res.status}${code ? `, code ${code}` : ''}): ${detail}`,
      { status: res.status },
    );
  }

  async incident(id: string): Promise<PagerDutyIncident> {
    const body = z
      .object({ incident: incidentSchema })
      .parse(await this.call('GET', `/incidents/${encodeURIComponent(id)}`));
    return body.incident;
  }

  /** The incident our Events API dedup key created (PagerDuty's `incident_key`); null if none. */
  async incidentByKey(dedupKey: string): Promise<PagerDutyIncident | null> {
    const body = z
      .object({ incidents: z.array(incidentSchema) })
      .parse(await this.call('GET', '/incidents', { query: { incident_key: dedupKey, limit: '5' } }));
    return body.incidents[0] ?? null;
  }

  /**
   * The PagerDuty incident of one of ours: by its PagerDuty id when known (null if PagerDuty no
   * longer has it), else by the Events API dedup key it was triggered with.
   */
  async incidentOf(ours: {
    readonly pdIncidentId: string | null;
    readonly pdDedupKey: string | null;
    readonly key: string;
  }): Promise<PagerDutyIncident | null> {
    if (!ours.pdIncidentId) return this.incidentByKey(ours.pdDedupKey ?? ours.key);
    return this.incident(ours.pdIncidentId).catch((err: unknown) => {
      if (err instanceof PagerDutyRejectedError && err.status === 404) return null;
      throw err;
    });
  }

  /** Triggered and acknowledged incidents, every page. */
  async openIncidents(): Promise<PagerDutyIncident[]> {
    const out: PagerDutyIncident[] = [];
    for (let offset = 0; offset < 10_000; ) {
      const body = z.object({ incidents: z.array(incidentSchema), more: z.boolean().optional() }).parse(
        await this.call('GET', '/incidents', {
          query: { statuses: ['triggered', 'acknowledged'], limit: '100', offset: String(offset) },
        }),
      );
      out.push(...body.incidents);
      if (!body.more || body.incidents.length === 0) break;
      offset += body.incidents.length;
    }
    return out;
  }

  async update(id: string, update: IncidentUpdate, from: string): Promise<PagerDutyIncident> {
    const body = z.object({ incident: incidentSchema }).parse(
      await this.call('PUT', `/incidents/${encodeURIComponent(id)}`, {
        body: { incident: { type: 'incident_reference', ...update } },
        from,
      }),
    );
    return body.incident;
  }

  async addNote(id: string, content: string, from: string): Promise<void> {
    await this.call('POST', `/incidents/${encodeURIComponent(id)}/notes`, {
      body: { note: { content: content.slice(0, 25_000) } },
      from,
    });
  }

  /** The PagerDuty user with this e-mail, or null. */
  async userByEmail(email: string): Promise<PagerDutyUser | null> {
    const body = z
      .object({ users: z.array(userSchema) })
      .parse(await this.call('GET', '/users', { query: { query: email, limit: '25' } }));
    return body.users.find((u) => u.email.toLowerCase() === email.toLowerCase()) ?? null;
  }

  /** Who is on call for the escalation policy now, lowest level first. */
  async onCalls(escalationPolicyId: string): Promise<PagerDutyOnCall[]> {
    const body = z.object({ oncalls: z.array(onCallSchema) }).parse(
      await this.call('GET', '/oncalls', {
        query: { escalation_policy_ids: [escalationPolicyId], include: ['users'], limit: '100' },
      }),
    );
    return body.oncalls
      .map((o) => ({
        level: o.escalation_level,
        policy: { id: o.escalation_policy.id, name: o.escalation_policy.summary ?? o.escalation_policy.id },
        user: {
          id: o.user.id,
          name: o.user.name ?? o.user.summary ?? o.user.id,
          email: o.user.email ?? null,
        },
        start: o.start ?? null,
        end: o.end ?? null,
      }))
      .sort((a, b) => a.level - b.level || a.user.name.localeCompare(b.user.name));
  }
}
