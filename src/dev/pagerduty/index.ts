/** Public surface of the local PagerDuty stand-in. */
export { PagerDutyApiError, pdErrors } from './errors.js';
export {
  CHANGE_EVENT_ACCEPTED,
  type ChangeEventRequest,
  type ChangeEventValidation,
  type EnqueueEvent,
  type EventValidation,
  invalidEventBody,
  parseChangeEventBody,
  parseEventBody,
  validateChangeEvent,
  validateEvent,
} from './events-api.js';
export { paginate, parsePageRequest } from './pagination.js';
export { DEFAULT_ROUTING_KEY, SEED, SEED_IDS } from './seed.js';
export {
  DEFAULT_HTTP_LISTEN,
  DEFAULT_HTTPS_LISTEN,
  DEFAULT_TLS_STATE_DIR,
  DEFAULT_WEBHOOK_URL,
  type PagerDutyLocal,
  type PagerDutyLocalOptions,
  startPagerDutyLocal,
} from './server.js';
export {
  computePagerDutySignature,
  signPagerDutyPayload,
  verifyPagerDutySignature,
} from './signature.js';
export { type ChangeEventRecord, type EventRecord, type Incident, PagerDutyStore } from './store.js';
export { ensureLocalTls } from './tls.js';
export type { DeliveryAttempt, SubscriptionStatus, WebhookRecord } from './webhooks.js';
