/** Public surface of the local Slack stand-in (see server.ts for the options and handle). */
export { BLOCK_LIMITS, checkMessageContent, validateBlocks, validateView } from './blocks-validate.js';
export { createTsGenerator, formatTs, parseTs } from './ids.js';
export { inspectMessage } from './inspection.js';
export {
  type DeliveryResult,
  type DeliveryTransport,
  InteractionError,
  Interactions,
} from './interactions.js';
export {
  type BotAnswer,
  blockActionsPayload,
  interactionForm,
  sendSignedForm,
  slashCommandForm,
  viewSubmissionPayload,
} from './outbound.js';
export { DEFAULT_RATE_LIMIT, type RateLimitConfig, TokenBucketLimiter } from './rate-limit.js';
export { SEED_BOT, SEED_CHANNELS, SEED_TEAM, SEED_USERS, SEED_VERIFICATION_TOKEN } from './seed.js';
export {
  DEFAULT_BOT_URL,
  DEFAULT_SLACK_LOCAL_HOST,
  DEFAULT_SLACK_LOCAL_PORT,
  type SlackLocal,
  type SlackLocalOptions,
  startSlackLocal,
} from './server.js';
export { isValidSlackSignature, signSlackRequest, slackSignatureHeaders } from './signing.js';
export {
  DISCONNECT_REASONS,
  type DisconnectReason,
  type EnvelopeOutcome,
  type EnvelopeType,
  SOCKET_MODE_PATH,
  type SocketConnectionInfo,
  SocketModeHub,
} from './socket-mode.js';
export { SlackStore } from './store.js';
export { callWebApi, SlackApiError, SUPPORTED_METHODS } from './web-api.js';
