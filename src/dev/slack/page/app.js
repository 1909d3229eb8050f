// The local Slack page: plain browser JavaScript, no framework, no build step.
// It talks only to the stand-in's inspection API (/_local/*) and listens to /_local/stream (SSE).

const $ = (selector) => document.querySelector(selector);

const state = {
  team: null,
  bot: null,
  botUrl: '',
  users: new Map(),
  channels: [],
  me: '',
  channelId: '',
  /** What to ask /_local/messages for (a DM that does not exist yet is asked for by user id). */
  channelRef: '',
  threadTs: null,
  messages: [],
  unread: new Map(),
  views: [],
  highlightTs: null,
  lastDeliveryOk: true,
  /** `ts/action_id` of buttons whose last click failed (shown with a red mark). */
  failedActions: new Set(),
};

/** Interactive elements rendered in the current view, by key (buttons carry `data-el`). */
const elements = new Map();
let nextElementKey = 0;

const EMOJI = {
  white_check_mark: '✅',
  heavy_check_mark: '✔️',
  x: '❌',
  warning: '⚠️',
  rotating_light: '🚨',
  red_circle: '🔴',
  large_green_circle: '🟢',
  large_yellow_circle: '🟡',
  large_orange_circle: '🟠',
  green_heart: '💚',
  fire: '🔥',
  hourglass: '⌛',
  hourglass_flowing_sand: '⏳',
  wrench: '🔧',
  hammer_and_wrench: '🛠️',
  mag: '🔍',
  bell: '🔔',
  no_bell: '🔕',
  eyes: '👀',
  information_source: 'ℹ️',
  lock: '🔒',
  unlock: '🔓',
  arrows_counterclockwise: '🔄',
  recycle: '♻️',
  rocket: '🚀',
  zap: '⚡',
  chart_with_upwards_trend: '📈',
  chart_with_downwards_trend: '📉',
  bar_chart: '📊',
  memo: '📝',
  page_facing_up: '📄',
  clipboard: '📋',
  link: '🔗',
  pager: '📟',
  telephone_receiver: '📞',
  shield: '🛡️',
  stop_sign: '🛑',
  no_entry: '⛔',
  thumbsup: '👍',
  '+1': '👍',
  thumbsdown: '👎',
  robot_face: '🤖',
  database: '🗄️',
  floppy_disk: '💾',
  computer: '💻',
  desktop_computer: '🖥️',
  gear: '⚙️',
  tada: '🎉',
  pushpin: '📌',
  stopwatch: '⏱️',
  clock3: '🕒',
  speech_balloon: '💬',
  bust_in_silhouette: '👤',
  busts_in_silhouette: '👥',
  heavy_plus_sign: '➕',
  heavy_minus_sign: '➖',
  arrow_right: '➡️',
  arrow_up: '⬆️',
  arrow_down: '⬇️',
  question: '❓',
  exclamation: '❗',
  sos: '🆘',
};

// ------------------------------------------------------------------ http

async function api(path, body) {
  const init =
    body === undefined
      ? {}
      : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.message || data.error || `HTTP ${res.status}`);
  return data;
}

// ------------------------------------------------------------------ text

function esc(value) {
  return String(value ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
}

/** Slack escapes &, < and > in message text; undo that before escaping for HTML. */
function unescapeSlack(value) {
  return value.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/**
 * Without a colour emoji font (a bare Debian image has none) emoji would show as empty boxes:
 * fall back to plain symbols that ordinary fonts carry.
 */
const HAS_EMOJI_FONT = (() => {
  const ctx = document.createElement('canvas').getContext('2d');
  if (!ctx) return true;
  ctx.font = '16px sans-serif';
  return ctx.measureText('\u{1F6A8}').width !== ctx.measureText('\u{10FFFD}').width;
})();

const EMOJI_FALLBACK = {
  white_check_mark: ['✔', 'ok'],
  heavy_check_mark: ['✔', 'ok'],
  large_green_circle: ['●', 'ok'],
  green_heart: ['♥', 'ok'],
  x: ['✖', 'bad'],
  red_circle: ['●', 'bad'],
  rotating_light: ['◉', 'bad'],
  fire: ['▲', 'bad'],
  no_entry: ['⊘', 'bad'],
  stop_sign: ['⊘', 'bad'],
  sos: ['SOS', 'bad'],
  warning: ['⚠', 'warn'],
  large_yellow_circle: ['●', 'warn'],
  large_orange_circle: ['●', 'warn'],
  exclamation: ['!', 'warn'],
  hourglass: ['⌛', ''],
  hourglass_flowing_sand: ['⌛', ''],
  information_source: ['ℹ', 'info'],
  arrow_right: ['→', ''],
  arrow_up: ['↑', ''],
  arrow_down: ['↓', ''],
  gear: ['⚙', ''],
  zap: ['⚡', 'warn'],
  thumbsup: ['+1', 'ok'],
  '+1': ['+1', 'ok'],
};

function emojiHtml(name) {
  if (HAS_EMOJI_FONT) return EMOJI[name];
  const fallback = EMOJI_FALLBACK[name];
  if (fallback) return `<span class="emoji-fallback ${fallback[1]}" title=":${name}:">${fallback[0]}</span>`;
  return EMOJI[name] ? `<span class="emoji-fallback" title=":${name}:">:${name}:</span>` : undefined;
}

function emojify(html) {
  return html.replace(/:([a-z0-9_+-]+):/g, (match, name) => emojiHtml(name) ?? match);
}

function safeUrl(url) {
  return /^(https?:\/\/|mailto:|\/)/i.test(url) ? url : null;
}

function userName(id) {
  const user = state.users.get(id);
  if (!user) return id;
  return user.is_bot ? user.real_name : user.name;
}

function mention(userId) {
  return `<span class="mention${userId === state.me ? ' me' : ''}">@${esc(userName(userId))}</span>`;
}

/** One `<…>` token of Slack's message formatting. */
function renderSpecial(inner) {
  const [target, label] = splitOnce(inner, '|');
  if (target.startsWith('@')) return mention(target.slice(1));
  if (target.startsWith('#')) {
    const channel = state.channels.find((c) => c.id === target.slice(1));
    return `<span class="mention">#${esc(label ?? channel?.name ?? target.slice(1))}</span>`;
  }
  if (target.startsWith('!')) {
    const what = target.slice(1);
    if (what === 'here' || what === 'channel' || what === 'everyone')
      return `<span class="mention me">@${esc(what)}</span>`;
    if (what.startsWith('subteam^')) return `<span class="mention">${esc(label ?? '@group')}</span>`;
    return esc(label ?? what);
  }
  const url = unescapeSlack(target);
  const text = label === undefined ? url : unescapeSlack(label);
  const href = safeUrl(url);
  return href
    ? `<a href="${esc(href)}" target="_blank" rel="noopener noreferrer">${esc(text)}</a>`
    : esc(text);
}

function splitOnce(value, separator) {
  const i = value.indexOf(separator);
  return i < 0 ? [value, undefined] : [value.slice(0, i), value.slice(i + 1)];
}

/** Slack mrkdwn → HTML: *bold*, _italic_, ~strike~, `code`, ```pre```, > quote, <links|and> <@mentions>. */
function mrkdwn(text, options = {}) {
  if (!text) return '';
  if (options.plain) return emojify(esc(unescapeSlack(String(text)))).replace(/\n/g, '<br>');
  const slots = [];
  const hold = (html) => {
    slots.push(html);
    return `\uE000${slots.length - 1}\uE001`;
  };
  let s = String(text);
  s = s.replace(/```([\s\S]*?)```/g, (_m, code) =>
    hold(`<pre class="mrkdwn-pre">${esc(unescapeSlack(code.replace(/^\n/, '')))}</pre>`),
  );
  s = s.replace(/`([^`\n]+)`/g, (_m, code) => hold(`<code>${esc(unescapeSlack(code))}</code>`));
  s = s.replace(/<([^<>\n]+)>/g, (_m, inner) => hold(renderSpecial(inner)));
  s = esc(unescapeSlack(s));
  s = s.replace(/(^|[^\w*])\*(?=\S)([^*\n]*?\S)\*(?!\w)/g, '$1<b>$2</b>');
  s = s.replace(/(^|[^\w_])_(?=\S)([^_\n]*?\S)_(?!\w)/g, '$1<i>$2</i>');
  s = s.replace(/(^|[^\w~])~(?=\S)([^~\n]*?\S)~(?!\w)/g, '$1<s>$2</s>');
  s = s.replace(/^&gt; ?(.*)$/gm, '<blockquote>$1</blockquote>');
  s = emojify(s);
  s = s
    .replace(/\n/g, '<br>')
    .replace(/<\/blockquote><br>/g, '</blockquote>')
    .replace(/<\/pre><br>/g, '</pre>');
  return s.replace(/\uE000(\d+)\uE001/g, (_m, i) => slots[Number(i)]);
}

function textObject(t) {
  if (!t || typeof t.text !== 'string') return '';
  return t.type === 'mrkdwn' ? mrkdwn(t.text) : mrkdwn(t.text, { plain: true });
}

function initials(name) {
  return (
    String(name)
      .split(/[\s._-]+/)
      .filter(Boolean)
      .map((w) => w[0])
      .join('')
      .slice(0, 2)
      .toUpperCase() || '?'
  );
}

function fmtTime(ts) {
  const d = new Date(Number.parseFloat(ts) * 1000);
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function fmtSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// ------------------------------------------------------------------ Block Kit

function registerElement(element, blockId, message) {
  const key = `e${nextElementKey++}`;
  elements.set(key, { element, blockId, message });
  return key;
}

function renderElement(element, blockId, ctx) {
  if (!element || typeof element !== 'object') return '';
  const key = registerElement(element, blockId, ctx.message);
  switch (element.type) {
    case 'button': {
      const style = element.style === 'primary' || element.style === 'danger' ? ` ${element.style}` : '';
      const failed =
        ctx.message && state.failedActions.has(`${ctx.message.ts}/${element.action_id}`) ? ' failed' : '';
      return `<button type="button" class="btn${style}${failed}" data-el="${key}" data-action-id="${esc(element.action_id)}">${textObject(element.text)}</button>`;
    }
    case 'static_select':
    case 'overflow':
    case 'radio_buttons': {
      const options = element.options ?? (element.option_groups ?? []).flatMap((g) => g.options ?? []);
      const placeholder =
        element.type === 'overflow' ? '⋯' : textObject(element.placeholder) || 'Select an option';
      return `<select class="b-select" data-el="${key}" aria-label="${esc(element.action_id)}"><option value="" selected disabled>${placeholder}</option>${options
        .map((o) => `<option value="${esc(o.value)}">${textObject(o.text)}</option>`)
        .join('')}</select>`;
    }
    case 'image':
      return `<img src="${esc(safeUrl(element.image_url ?? '') ?? '')}" alt="${esc(element.alt_text)}">`;
    default:
      return `<span class="b-unknown">[${esc(element.type)}]</span>`;
  }
}

function renderInputBlock(block, ctx) {
  const el = block.element ?? {};
  const id = `in-${esc(block.block_id)}`;
  const attrs = `id="${id}" data-block-id="${esc(block.block_id)}" data-action-id="${esc(el.action_id)}" data-type="${esc(el.type)}"`;
  const placeholder = el.placeholder ? ` placeholder="${esc(el.placeholder.text)}"` : '';
  let control;
  switch (el.type) {
    case 'plain_text_input':
      control = el.multiline
        ? `<textarea ${attrs} rows="4"${placeholder}>${esc(el.initial_value ?? '')}</textarea>`
        : `<input type="text" ${attrs}${placeholder} value="${esc(el.initial_value ?? '')}">`;
      break;
    case 'number_input':
    case 'email_text_input':
    case 'url_text_input': {
      const type = { number_input: 'number', email_text_input: 'email', url_text_input: 'url' }[el.type];
      control = `<input type="${type}" ${attrs}${placeholder} value="${esc(el.initial_value ?? '')}">`;
      break;
    }
    case 'static_select':
    case 'radio_buttons':
    case 'multi_static_select':
    case 'checkboxes': {
      const multiple = el.type === 'multi_static_select' || el.type === 'checkboxes' ? ' multiple' : '';
      const options = el.options ?? (el.option_groups ?? []).flatMap((g) => g.options ?? []);
      const initial = el.initial_option?.value;
      control = `<select ${attrs}${multiple}>${multiple ? '' : '<option value="">Select an option</option>'}${options
        .map(
          (o) =>
            `<option value="${esc(o.value)}"${o.value === initial ? ' selected' : ''}>${textObject(o.text)}</option>`,
        )
        .join('')}</select>`;
      break;
    }
    case 'users_select':
      control = `<select ${attrs}><option value="">Select a person</option>${[...state.users.values()]
        .filter((u) => !u.is_bot)
        .map((u) => `<option value="${esc(u.id)}">${esc(u.real_name)}</option>`)
        .join('')}</select>`;
      break;
    case 'datepicker':
      control = `<input type="date" ${attrs} value="${esc(el.initial_date ?? '')}">`;
      break;
    default:
      control = `<input type="text" ${attrs}${placeholder}>`;
  }
  const error = ctx.errors?.[block.block_id];
  return `<div class="input-block"><label for="${id}">${textObject(block.label)}${block.optional ? ' <span class="optional">(optional)</span>' : ''}</label>${control}${block.hint ? `<div class="hint">${textObject(block.hint)}</div>` : ''}${error ? `<div class="field-error">${esc(error)}</div>` : ''}</div>`;
}

function richInline(items, pre) {
  return (items ?? [])
    .map((e) => {
      let html = '';
      switch (e.type) {
        case 'text':
          html = pre ? esc(e.text) : esc(e.text).replace(/\n/g, '<br>');
          break;
        case 'link': {
          const href = safeUrl(e.url ?? '');
          html = href
            ? `<a href="${esc(href)}" target="_blank" rel="noopener noreferrer">${esc(e.text || e.url)}</a>`
            : esc(e.text || e.url);
          break;
        }
        case 'user':
          html = mention(e.user_id);
          break;
        case 'channel': {
          const channel = state.channels.find((c) => c.id === e.channel_id);
          html = `<span class="mention">#${esc(channel?.name ?? e.channel_id)}</span>`;
          break;
        }
        case 'usergroup':
          html = `<span class="mention">@${esc(e.usergroup_id)}</span>`;
          break;
        case 'broadcast':
          html = `<span class="mention me">@${esc(e.range)}</span>`;
          break;
        case 'emoji':
          html =
            emojiHtml(e.name) ??
            (e.unicode
              ? String.fromCodePoint(...e.unicode.split('-').map((h) => Number.parseInt(h, 16)))
              : `:${esc(e.name)}:`);
          break;
        default:
          html = '';
      }
      const style = e.style ?? {};
      if (style.code) html = `<code>${html}</code>`;
      if (style.bold) html = `<b>${html}</b>`;
      if (style.italic) html = `<i>${html}</i>`;
      if (style.strike) html = `<s>${html}</s>`;
      return html;
    })
    .join('');
}

function renderRichText(block) {
  return (block.elements ?? [])
    .map((el) => {
      switch (el.type) {
        case 'rich_text_section':
          return `<div>${richInline(el.elements, false)}</div>`;
        case 'rich_text_preformatted':
          return `<pre class="mrkdwn-pre">${richInline(el.elements, true)}</pre>`;
        case 'rich_text_quote':
          return `<blockquote>${richInline(el.elements, false)}</blockquote>`;
        case 'rich_text_list': {
          const tag = el.style === 'ordered' ? 'ol' : 'ul';
          const items = (el.elements ?? []).map((s) => `<li>${richInline(s.elements, false)}</li>`).join('');
          return `<${tag} class="rt-list">${items}</${tag}>`;
        }
        default:
          return '';
      }
    })
    .join('');
}

function renderBlock(block, ctx) {
  const blockId = block.block_id ?? '';
  switch (block.type) {
    case 'header':
      return `<div class="b-header">${textObject(block.text)}</div>`;
    case 'section': {
      const text = block.text ? `<div class="b-text">${textObject(block.text)}</div>` : '';
      const fields = Array.isArray(block.fields)
        ? `<div class="b-fields">${block.fields.map((f) => `<div class="b-text">${textObject(f)}</div>`).join('')}</div>`
        : '';
      const accessory = block.accessory
        ? `<div class="b-accessory">${renderElement(block.accessory, blockId, ctx)}</div>`
        : '';
      return `<div class="b-section"><div class="b-section-main">${text}${fields}</div>${accessory}</div>`;
    }
    case 'context':
      return `<div class="b-context">${(block.elements ?? [])
        .map((e) =>
          e.type === 'image'
            ? `<img src="${esc(safeUrl(e.image_url ?? '') ?? '')}" alt="${esc(e.alt_text)}">`
            : `<span>${textObject(e)}</span>`,
        )
        .join('')}</div>`;
    case 'divider':
      return '<hr class="b-divider">';
    case 'actions':
      return `<div class="b-actions">${(block.elements ?? []).map((e) => renderElement(e, blockId, ctx)).join('')}</div>`;
    case 'image':
      return `<figure class="b-image">${block.title ? `<figcaption>${textObject(block.title)}</figcaption>` : ''}<img src="${esc(safeUrl(block.image_url ?? '') ?? '')}" alt="${esc(block.alt_text)}"></figure>`;
    case 'rich_text':
      return `<div class="b-rich">${renderRichText(block)}</div>`;
    case 'markdown':
      return `<div class="b-text">${mrkdwn(block.text)}</div>`;
    case 'input':
      return renderInputBlock(block, ctx);
    default:
      return `<div class="b-unknown">[${esc(block.type)} block]</div>`;
  }
}

function renderBlocks(blocks, ctx) {
  return `<div class="blocks">${blocks.map((b) => renderBlock(b, ctx)).join('')}</div>`;
}

// ------------------------------------------------------------------ messages

function renderFiles(files) {
  if (!files?.length) return '';
  return `<div class="files">${files
    .map((f) => {
      const href = esc(f.url_private);
      if (String(f.mimetype).startsWith('image/'))
        return `<a href="${href}" target="_blank" rel="noopener"><img class="file-img" src="${href}" alt="${esc(f.title)}"></a>`;
      const ext = String(f.name).split('.').pop()?.slice(0, 4) ?? 'file';
      return `<a class="file-card" href="${href}" target="_blank" rel="noopener"><span class="file-icon">${esc(ext)}</span><span><div class="file-name">${esc(f.title || f.name)}</div><div class="file-size">${fmtSize(f.size ?? 0)} · ${esc(f.mimetype)}</div></span></a>`;
    })
    .join('')}</div>`;
}

function authorOf(m) {
  const user = state.users.get(m.user);
  if (m.bot_id)
    return {
      name: m.username || state.bot?.real_name || 'App',
      color: state.bot?.color ?? '#4a154b',
      app: true,
    };
  if (!user) return { name: m.user, color: '#888', app: false };
  return {
    name: user.real_name,
    color: user.color,
    app: Boolean(user.is_bot),
    title: user.is_bot ? '' : user.title,
    slackbot: m.user === 'USLACKBOT',
  };
}

function repliesBar(m) {
  if (!m.reply_count) return '';
  const avatars = (m.reply_users ?? [])
    .slice(0, 3)
    .map((id) => {
      const a = authorOf({ user: id, bot_id: id === state.bot?.user_id ? state.bot.bot_id : null });
      return `<span class="avatar" style="background:${esc(a.color)}">${esc(initials(a.name))}</span>`;
    })
    .join('');
  const last = m.latest_reply
    ? `<span class="replies-last">Last reply ${fmtTime(m.latest_reply)}</span>`
    : '';
  return `<button type="button" class="replies-bar" data-thread="${esc(m.ts)}"><span class="reply-avatars">${avatars}</span><span class="replies-count">${m.reply_count} ${m.reply_count === 1 ? 'reply' : 'replies'}</span>${last}</button>`;
}

function renderMessage(m, opts = {}) {
  const author = authorOf(m);
  const ctx = { message: m };
  const edited = m.edited ? '<span class="edited">(edited)</span>' : '';
  const content = m.blocks?.length
    ? renderBlocks(m.blocks, ctx) + (edited ? `<div>${edited}</div>` : '')
    : `<div class="text">${mrkdwn(m.text, { plain: m.mrkdwn === false })}${edited}</div>`;
  const ephemeral = m.ephemeral_user
    ? `<div class="ephemeral-note"><svg width="14" height="14" viewBox="0 0 20 20" aria-hidden="true"><path fill="currentColor" d="M10 4C5.5 4 2 8.5 2 10s3.5 6 8 6 8-4.5 8-6-3.5-6-8-6zm0 10a4 4 0 1 1 0-8 4 4 0 0 1 0 8zm0-6a2 2 0 1 0 0 4 2 2 0 0 0 0-4z"/></svg>Only visible to you</div>`
    : '';
  const broadcast =
    m.subtype === 'thread_broadcast' && !opts.inThread
      ? '<div class="broadcast-note">replied to a thread</div>'
      : '';
  const classes = ['msg'];
  if (opts.continued) classes.push('continued');
  if (m.ephemeral_user) classes.push('ephemeral');
  if (state.highlightTs === m.ts) classes.push('highlight');
  const title =
    author.app && !author.slackbot
      ? '<span class="app-badge">APP</span>'
      : author.title
        ? `<span class="title-chip">${esc(author.title)}</span>`
        : '';
  const gutter = opts.continued
    ? `<span class="gutter-time" title="${esc(m.ts)}">${fmtTime(m.ts)}</span>`
    : `<span class="avatar" style="background:${esc(author.color)}" aria-hidden="true">${esc(initials(author.name))}</span>`;
  const meta = opts.continued
    ? ''
    : `<div class="meta"><span class="name">${esc(author.name)}</span>${title}<span class="time" title="${esc(m.ts)}">${fmtTime(m.ts)}</span></div>`;
  return `<div class="${classes.join(' ')}" data-ts="${esc(m.ts)}" data-testid="message">
    ${gutter}
    <div class="body">
      ${ephemeral}
      ${meta}
      ${broadcast}${content}
      ${renderFiles(m.files)}
      ${opts.inThread ? '' : repliesBar(m)}
    </div>
  </div>`;
}

function isTopLevel(m) {
  return !m.thread_ts || m.thread_ts === m.ts || m.subtype === 'thread_broadcast';
}

function renderList(list, inThread) {
  let previous = null;
  return list
    .map((m) => {
      const continued =
        previous !== null &&
        previous.user === m.user &&
        previous.username === m.username &&
        !previous.ephemeral_user &&
        !m.ephemeral_user &&
        !previous.reply_count &&
        Number.parseFloat(m.ts) - Number.parseFloat(previous.ts) < 300;
      previous = m;
      return renderMessage(m, { continued, inThread });
    })
    .join('');
}

function currentChannel() {
  return state.channels.find((c) => c.id === state.channelId);
}

function channelLabel(channel) {
  if (!channel) return '';
  return channel.is_im ? (state.bot?.real_name ?? 'App') : `#${channel.name}`;
}

function renderMessages() {
  elements.clear();
  nextElementKey = 0;
  const box = $('#messages');
  const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  const channel = currentChannel();
  const intro = channel
    ? `<div class="channel-intro"><h2>${esc(channelLabel(channel))}</h2>${
        channel.is_im
          ? 'Your direct messages with the app.'
          : `This is the very beginning of the <b>#${esc(channel.name)}</b> channel. ${esc(channel.topic ?? '')}`
      }</div>`
    : '';
  box.innerHTML = intro + renderList(state.messages.filter(isTopLevel), false);
  if (state.highlightTs)
    box.querySelector(`[data-ts="${CSS.escape(state.highlightTs)}"]`)?.scrollIntoView({ block: 'center' });
  else if (nearBottom || box.dataset.shownChannel !== state.channelId) box.scrollTop = box.scrollHeight;
  box.dataset.shownChannel = state.channelId;
  renderThread();
}

function renderThread() {
  const pane = $('#thread');
  if (!state.threadTs) {
    pane.hidden = true;
    return;
  }
  const root = state.messages.find((m) => m.ts === state.threadTs);
  if (!root) {
    pane.hidden = true;
    return;
  }
  pane.hidden = false;
  $('#thread-channel').textContent = channelLabel(currentChannel());
  const replies = state.messages.filter((m) => m.thread_ts === root.ts && m.ts !== root.ts);
  const box = $('#thread-messages');
  const divider = `<div class="thread-divider">${replies.filter((r) => !r.ephemeral_user).length} ${replies.length === 1 ? 'reply' : 'replies'}</div>`;
  box.innerHTML = renderMessage(root, { inThread: true }) + divider + renderList(replies, true);
  box.scrollTop = box.scrollHeight;
}

function renderSidebar() {
  const me = state.users.get(state.me);
  const select = $('#user-select');
  select.innerHTML = [...state.users.values()]
    .filter((u) => !u.is_bot)
    .map(
      (u) =>
        `<option value="${esc(u.id)}"${u.id === state.me ? ' selected' : ''}>${esc(u.real_name)} · ${esc(u.role ?? 'no role')}</option>`,
    )
    .join('');
  if (me) {
    const avatar = $('#user-avatar');
    avatar.textContent = initials(me.real_name);
    avatar.style.background = me.color;
    $('#user-role').innerHTML = me.role
      ? `<span class="role-chip">${esc(me.role)}</span> ${esc(me.title)}`
      : `<span class="role-chip none">no role</span> ${esc(me.title)}`;
  }
  const item = (channel, label, prefix) => {
    const unread = state.unread.get(channel.id) ?? 0;
    const classes = [channel.id === state.channelId ? 'active' : '', unread ? 'unread' : ''].join(' ').trim();
    return `<li><button type="button" class="${classes}" data-channel="${esc(channel.id)}" data-ref="${esc(channel.ref ?? channel.id)}"><span class="nav-hash">${prefix}</span><span>${esc(label)}</span>${unread ? `<span class="nav-badge">${unread}</span>` : ''}</button></li>`;
  };
  $('#channel-list').innerHTML = state.channels
    .filter((c) => !c.is_im)
    .map((c) => item(c, c.name, '#'))
    .join('');
  const dm = state.channels.find((c) => c.is_im && c.im_user === state.me) ?? {
    id: `D${state.me.slice(1)}`,
    ref: state.me,
  };
  $('#dm-list').innerHTML = item(dm, state.bot?.real_name ?? 'App', '●');
  const channel = currentChannel();
  $('#channel-title').textContent = channel ? channelLabel(channel) : '';
  $('#channel-topic').textContent = channel?.topic ?? '';
  $('#composer-input').placeholder = `Message ${channel ? channelLabel(channel) : ''}`;
  $('#bot-url').innerHTML =
    `<span class="bot-dot${state.lastDeliveryOk ? '' : ' down'}"></span>App requests → ${esc(state.botUrl)}`;
}

// ------------------------------------------------------------------ data

async function loadChannels() {
  state.channels = await api('/_local/channels');
}

async function loadMessages() {
  const ref = state.channelRef || state.channelId;
  const query = new URLSearchParams({ channel: ref, include_ephemeral: '1', viewer: state.me });
  state.messages = await api(`/_local/messages?${query}`);
  if (!state.channels.some((c) => c.id === state.channelId)) {
    await loadChannels();
    const dm = state.channels.find((c) => c.is_im && c.im_user === state.me);
    if (dm && ref === state.me) state.channelId = dm.id;
    renderSidebar();
  }
  renderMessages();
}

async function loadViews() {
  state.views = await api(`/_local/views?user=${encodeURIComponent(state.me)}`);
  renderView();
}

async function selectChannel(id, ref) {
  state.channelId = id;
  state.channelRef = ref ?? id;
  state.threadTs = null;
  state.unread.delete(id);
  localStorage.setItem('slack-local.channel', id);
  renderSidebar();
  await loadMessages();
}

let refreshTimer = null;
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    loadMessages().catch((err) => toast(`Could not load messages: ${err.message}`, 'error'));
  }, 40);
}

// ------------------------------------------------------------------ actions

function toast(text, kind = 'info') {
  const el = document.createElement('div');
  el.className = `toast ${kind}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  el.textContent = text;
  $('#toasts').appendChild(el);
  setTimeout(() => el.remove(), 7000);
}

function failureText(result) {
  const app = state.bot?.real_name ?? 'The app';
  if (result.error === 'operation_timeout') return `${app} took too long to respond (operation_timeout)`;
  if (result.error === 'dispatch_failed') return `${app} could not be reached (dispatch_failed)`;
  return `${app} responded with Status Code ${result.status}`;
}

/** Slack's confirm dialog; resolves true when confirmed. */
function confirmDialog(confirm) {
  return new Promise((resolve) => {
    const overlay = document.createElement('div');
    overlay.className = 'overlay';
    const style = confirm.style === 'danger' ? 'danger' : 'primary';
    overlay.innerHTML = `<div class="dialog" role="dialog" aria-modal="true" aria-labelledby="confirm-title" data-testid="confirm-dialog">
      <div class="dialog-head"><h2 id="confirm-title">${textObject(confirm.title) || 'Are you sure?'}</h2></div>
      <div class="dialog-body">${textObject(confirm.text)}</div>
      <div class="dialog-foot">
        <button type="button" class="btn" data-choice="deny">${textObject(confirm.deny) || 'Cancel'}</button>
        <button type="button" class="btn ${style}" data-choice="confirm">${textObject(confirm.confirm) || 'Yes'}</button>
      </div></div>`;
    const done = (value) => {
      overlay.remove();
      document.removeEventListener('keydown', onKey);
      resolve(value);
    };
    const onKey = (event) => {
      if (event.key === 'Escape') done(false);
    };
    overlay.addEventListener('click', (event) => {
      const choice = event.target.closest('[data-choice]')?.dataset.choice;
      if (choice) done(choice === 'confirm');
      else if (event.target === overlay) done(false);
    });
    document.addEventListener('keydown', onKey);
    document.body.appendChild(overlay);
    overlay.querySelector('[data-choice="confirm"]').focus();
  });
}

async function sendAction(entry, value, control) {
  const { element, blockId, message } = entry;
  if (!message) {
    toast('Buttons inside modals are not supported by this stand-in', 'error');
    return;
  }
  if (element.confirm && !(await confirmDialog(element.confirm))) return;
  if (element.url) window.open(element.url, '_blank', 'noopener');
  control?.classList.add('busy');
  try {
    const result = await api('/_local/action', {
      user: state.me,
      channel: message.channel,
      ts: message.ts,
      action_id: element.action_id,
      block_id: blockId,
      ...(value !== undefined ? { value } : {}),
    });
    const key = `${message.ts}/${element.action_id}`;
    if (result.error) {
      state.failedActions.add(key);
      control?.classList.add('failed');
      toast(failureText(result), 'error');
    } else {
      state.failedActions.delete(key);
      control?.classList.remove('failed');
    }
  } catch (err) {
    toast(`Could not send the click: ${err.message}`, 'error');
  } finally {
    control?.classList.remove('busy');
  }
}

async function submitComposer(input, threadTs) {
  const raw = input.value;
  const text = raw.trim();
  if (!text) return;
  input.value = '';
  autosize(input);
  const channel = state.channelRef || state.channelId;
  try {
    if (text.startsWith('/') && !threadTs) {
      const [command, ...rest] = text.split(/\s+/);
      const result = await api('/_local/command', {
        user: state.me,
        channel,
        command,
        text: text.slice(command.length).trim() || rest.join(' '),
      });
      // A failed delivery already shows as Slackbot's ephemeral message in the channel.
      if (result.error) state.lastDeliveryOk = false;
    } else {
      await api('/_local/post', {
        user: state.me,
        channel,
        text: raw.replace(/\s+$/, ''),
        thread_ts: threadTs ?? undefined,
      });
    }
  } catch (err) {
    input.value = raw;
    toast(err.message, 'error');
  }
}

function autosize(textarea) {
  textarea.style.height = 'auto';
  textarea.style.height = `${Math.min(textarea.scrollHeight, 160)}px`;
}

// ------------------------------------------------------------------ modals (views)

let viewErrors = {};
let viewProblem = '';

function renderView() {
  const root = $('#modal-root');
  const top = state.views[state.views.length - 1];
  if (!top) {
    root.innerHTML = '';
    viewErrors = {};
    viewProblem = '';
    return;
  }
  const v = top.view;
  const ctx = { message: null, errors: viewErrors };
  root.innerHTML = `<div class="overlay"><form class="dialog" role="dialog" aria-modal="true" data-view-id="${esc(v.id)}" data-testid="modal">
    <div class="dialog-head"><h2>${textObject(v.title)}</h2><button type="button" class="icon-button" data-view-close aria-label="Close">×</button></div>
    <div class="dialog-body">${renderBlocks(v.blocks ?? [], ctx)}${viewProblem ? `<div class="dialog-error">${esc(viewProblem)}</div>` : ''}</div>
    <div class="dialog-foot">
      <button type="button" class="btn" data-view-close>${textObject(v.close) || 'Cancel'}</button>
      ${v.submit ? `<button type="submit" class="btn primary">${textObject(v.submit)}</button>` : ''}
    </div></form></div>`;
}

function collectViewValues(form) {
  const values = {};
  for (const control of form.querySelectorAll('[data-block-id][data-action-id]')) {
    const blockId = control.dataset.blockId;
    const actionId = control.dataset.actionId;
    let value = control.value;
    if (control.multiple) value = [...control.selectedOptions].map((o) => o.value);
    values[blockId] = { ...(values[blockId] ?? {}), [actionId]: value };
  }
  return values;
}

async function submitView(form) {
  const viewId = form.dataset.viewId;
  try {
    const result = await api('/_local/view/submit', {
      user: state.me,
      view_id: viewId,
      values: collectViewValues(form),
    });
    viewErrors = result.errors ?? {};
    viewProblem = result.error ? `We had some trouble connecting. Try again? (${result.error})` : '';
    if (result.error || result.errors) renderView();
    await loadViews();
  } catch (err) {
    viewProblem = err.message;
    renderView();
  }
}

async function closeView(form) {
  try {
    await api('/_local/view/close', { user: state.me, view_id: form.dataset.viewId });
  } finally {
    viewErrors = {};
    viewProblem = '';
    await loadViews();
  }
}

// ------------------------------------------------------------------ events

function bindEvents() {
  $('#user-select').addEventListener('change', async (event) => {
    state.me = event.target.value;
    localStorage.setItem('slack-local.user', state.me);
    const current = currentChannel();
    if (current?.is_im) {
      state.channelId = 'C0QNWISOPS';
      state.channelRef = 'C0QNWISOPS';
    }
    renderSidebar();
    await Promise.all([loadMessages(), loadViews()]);
  });

  document.addEventListener('click', (event) => {
    const target = event.target;
    const channelButton = target.closest('button[data-channel]');
    if (channelButton) {
      selectChannel(channelButton.dataset.channel, channelButton.dataset.ref);
      return;
    }
    const threadButton = target.closest('[data-thread]');
    if (threadButton) {
      state.threadTs = threadButton.dataset.thread;
      renderThread();
      return;
    }
    const button = target.closest('button[data-el]');
    if (button) {
      const entry = elements.get(button.dataset.el);
      if (entry) sendAction(entry, undefined, button);
      return;
    }
    const closer = target.closest('[data-view-close]');
    if (closer) closeView(closer.closest('form'));
  });

  document.addEventListener('change', (event) => {
    const select = event.target.closest('select[data-el]');
    if (!select) return;
    const entry = elements.get(select.dataset.el);
    if (entry) sendAction(entry, select.value, select);
  });

  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (form.matches('[data-view-id]')) {
      event.preventDefault();
      submitView(form);
    }
  });

  $('#thread-close').addEventListener('click', () => {
    state.threadTs = null;
    renderThread();
  });

  for (const [formId, inputId, thread] of [
    ['#composer', '#composer-input', false],
    ['#thread-composer', '#thread-input', true],
  ]) {
    const form = $(formId);
    const input = $(inputId);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      submitComposer(input, thread ? state.threadTs : null);
    });
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    input.addEventListener('input', () => autosize(input));
  }

  $('#reset-button').addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: { type: 'plain_text', text: 'Reset the workspace?' },
      text: {
        type: 'mrkdwn',
        text: 'All messages, files and modals go away; users and channels return to the seed.',
      },
      confirm: { type: 'plain_text', text: 'Reset' },
      deny: { type: 'plain_text', text: 'Cancel' },
      style: 'danger',
    });
    if (ok) await api('/_local/reset', {});
  });
}

function connectStream() {
  const source = new EventSource('/_local/stream');
  const onMessageEvent = (event) => {
    const data = JSON.parse(event.data);
    if (data.ephemeral_user && data.ephemeral_user !== state.me) return;
    if (data.channel === state.channelId) scheduleRefresh();
    else if (event.type === 'message' && !data.thread_ts) {
      state.unread.set(data.channel, (state.unread.get(data.channel) ?? 0) + 1);
      if (!state.channels.some((c) => c.id === data.channel)) loadChannels().then(renderSidebar);
      else renderSidebar();
    }
  };
  source.addEventListener('message', onMessageEvent);
  source.addEventListener('message_deleted', onMessageEvent);
  source.addEventListener('view', (event) => {
    const data = JSON.parse(event.data);
    if (data.user === state.me) loadViews();
  });
  source.addEventListener('delivery', (event) => {
    const { delivery } = JSON.parse(event.data);
    state.lastDeliveryOk = !delivery.error;
    renderSidebar();
  });
  source.addEventListener('reset', async () => {
    state.unread.clear();
    state.threadTs = null;
    await loadChannels();
    if (!state.channels.some((c) => c.id === state.channelId)) {
      state.channelId = 'C0QNWISOPS';
      state.channelRef = 'C0QNWISOPS';
    }
    renderSidebar();
    await Promise.all([loadMessages(), loadViews()]);
  });
  source.addEventListener('open', () => scheduleRefresh());
}

// ------------------------------------------------------------------ start

async function start() {
  const [workspace, users] = await Promise.all([api('/_local/workspace'), api('/_local/users')]);
  await loadChannels();
  state.team = workspace.team;
  state.bot = {
    ...workspace.bot,
    color: users.find((u) => u.id === workspace.bot.user_id)?.color ?? '#4a154b',
  };
  state.botUrl = workspace.bot_url;
  const deliveries = await api('/_local/deliveries');
  state.lastDeliveryOk = !deliveries.at(-1)?.error;
  state.users = new Map(users.map((u) => [u.id, u]));
  $('#workspace-name').textContent = state.team.name;
  document.title = `${state.team.name} · Slack (local)`;

  const people = users.filter((u) => !u.is_bot);
  const savedUser = localStorage.getItem('slack-local.user');
  state.me = people.some((u) => u.id === savedUser) ? savedUser : (people[0]?.id ?? '');

  // Permalinks: /archives/<channel>/p<ts without dot>[?thread_ts=…]
  const link = /^\/archives\/([A-Z0-9]+)(?:\/p(\d{10})(\d{6}))?/.exec(location.pathname);
  const savedChannel = localStorage.getItem('slack-local.channel');
  const firstChannel = state.channels.find((c) => !c.is_im)?.id ?? '';
  state.channelId =
    link?.[1] ?? (state.channels.some((c) => c.id === savedChannel) ? savedChannel : firstChannel);
  state.channelRef = state.channelId;
  if (link?.[2]) state.highlightTs = `${link[2]}.${link[3]}`;
  const threadTs = new URLSearchParams(location.search).get('thread_ts');
  if (threadTs) state.threadTs = threadTs;

  bindEvents();
  renderSidebar();
  await Promise.all([loadMessages(), loadViews()]);
  connectStream();
  document.body.dataset.ready = 'true';
}

start().catch((err) => {
  document.body.innerHTML = `<pre style="color:#fff;padding:24px">The local Slack page could not start: ${esc(err.message)}</pre>`;
});
