"""What Slack refuses, as Slack documents it: the one set of rules the Slack stand-in (tests/slack_stub.py)
enforces on every call, and that any test can apply to a payload directly (``message_errors``,
``view_errors``).

Each rule names the reference page it comes from. An answer is Slack's own error body:
``{"ok": false, "error": "invalid_blocks", "errors": [...], "response_metadata": {"messages": [...]}}``,
each message ending in ``[json-pointer:/blocks/N/...]`` as Slack's do.

References (read Dec 2026):
  BLOCKS   https://docs.slack.dev/reference/block-kit/blocks ("up to 50 blocks in each message, and 100
           blocks in modals or Home tabs")
  SECTION  https://docs.slack.dev/reference/block-kit/blocks/section-block
  HEADER   https://docs.slack.dev/reference/block-kit/blocks/header-block
  CONTEXT  https://docs.slack.dev/reference/block-kit/blocks/context-block
  ACTIONS  https://docs.slack.dev/reference/block-kit/blocks/actions-block
  DIVIDER  https://docs.slack.dev/reference/block-kit/blocks/divider-block
  IMAGE    https://docs.slack.dev/reference/block-kit/blocks/image-block
  MARKDOWN https://docs.slack.dev/reference/block-kit/blocks/markdown-block
  BUTTON   https://docs.slack.dev/reference/block-kit/block-elements/button-element
  TEXT     https://docs.slack.dev/reference/block-kit/composition-objects/text-object
  POST     https://docs.slack.dev/reference/methods/chat.postMessage (errors: msg_too_long, no_text,
           invalid_blocks, invalid_blocks_format, too_many_attachments, invalid_arguments)
  TRUNC    https://api.slack.com/changelog/2018-04-truncating-really-long-messages (40,000 characters)
  UPDATE   https://docs.slack.dev/reference/methods/chat.update
  EPHEM    https://docs.slack.dev/reference/methods/chat.postEphemeral
  PUBLISH  https://docs.slack.dev/reference/methods/views.publish (invalid_arguments with
           response_metadata.messages; view_too_large over 250 kB)
  HOME     https://docs.slack.dev/reference/views/home-tab-views
  UPLOAD   https://docs.slack.dev/reference/methods/files.getUploadURLExternal
  COMPLETE https://docs.slack.dev/reference/methods/files.completeUploadExternal
  CONVINFO https://docs.slack.dev/reference/methods/conversations.info (bot scopes channels:read for a public
           channel, groups:read for a private one; the channel's is_member, is_private, is_archived; errors
           channel_not_found "Value passed for channel was invalid." (also a private channel the bot is not
           in: it cannot see it) and missing_scope)
  SCOPES   https://docs.slack.dev/authentication/tokens and "Working with scopes": missing_scope names the
           scope `needed` and the ones `provided`
  POSTCH   chat.postMessage's errors (POST): channel_not_found, not_in_channel (a public channel the bot is
           not in, without chat:write.public), is_archived
"""

from __future__ import annotations

import json
from typing import Any

MESSAGE_TEXT_MAX = 40_000  # POST/TRUNC: longer text is not delivered as sent -> msg_too_long
MESSAGE_TEXT_ADVISED = 4_000  # POST: "we recommend ... no more than 4,000 characters"; not an error
ATTACHMENTS_MAX = 100  # POST: too_many_attachments
BLOCKS_MAX = {"message": 50, "home": 100, "modal": 100}  # BLOCKS
BLOCK_ID_MAX = 255  # SECTION and every block: block_id
ACTION_ID_MAX = 255  # BUTTON
SECTION_TEXT_MAX = 3_000  # SECTION: text
FIELDS_MAX = 10  # SECTION: fields
FIELD_TEXT_MAX = 2_000  # SECTION: each field
HEADER_TEXT_MAX = 150  # HEADER: plain_text only
CONTEXT_ELEMENTS_MAX = 10  # CONTEXT
ACTIONS_ELEMENTS_MAX = 25  # ACTIONS
BUTTON_TEXT_MAX = 75  # BUTTON: plain_text only
BUTTON_VALUE_MAX = 2_000  # BUTTON
URL_MAX = 3_000  # BUTTON url, IMAGE image_url
ALT_TEXT_MAX = 2_000  # IMAGE
TEXT_OBJECT_MAX = 3_000  # TEXT: 1 to 3000 characters
MARKDOWN_BLOCK_MAX = 12_000  # MARKDOWN: "cumulative limit of 12,000 characters"
PRIVATE_METADATA_MAX = 3_000  # HOME
CALLBACK_ID_MAX = 255  # HOME
VIEW_BYTES_MAX = 250_000  # PUBLISH: view_too_large
ALT_TXT_MAX = 1_000  # UPLOAD: alt_txt_too_large


class _Errors:
    """Slack's error strings, each with the json pointer of what broke the rule."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, pointer: str, message: str) -> None:
        self.items.append(f"{message} [json-pointer:{pointer}]")


def _text_object(e: _Errors, obj: Any, at: str, *, max_len: int = TEXT_OBJECT_MAX, plain_only: bool = False) -> None:
    # TEXT: type plain_text or mrkdwn; text at least 1 character and at most 3000.
    if not isinstance(obj, dict):
        e.add(at, "must be an object")
        return
    kind = obj.get("type")
    if kind not in ("plain_text", "mrkdwn") or (plain_only and kind != "plain_text"):
        e.add(f"{at}/type", "must be plain_text" if plain_only else "must be one of plain_text, mrkdwn")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        e.add(f"{at}/text", "must be more than 0 characters")
    elif len(text) > max_len:
        e.add(f"{at}/text", f"must be less than {max_len + 1} characters")
    if "emoji" in obj and kind != "plain_text":  # TEXT: emoji "can only be used when type is plain_text"
        e.add(f"{at}/emoji", "only valid for plain_text")


def _button(e: _Errors, el: dict, at: str, action_ids: dict[str, str]) -> None:
    # BUTTON: text plain_text max 75; action_id max 255; value max 2000; url max 3000; style primary|danger.
    _text_object(e, el.get("text"), f"{at}/text", max_len=BUTTON_TEXT_MAX, plain_only=True)
    value = el.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > BUTTON_VALUE_MAX):
        e.add(f"{at}/value", f"must be less than {BUTTON_VALUE_MAX + 1} characters")
    url = el.get("url")
    if url is not None and (not isinstance(url, str) or len(url) > URL_MAX):
        e.add(f"{at}/url", f"must be less than {URL_MAX + 1} characters")
    if "style" in el and el["style"] not in ("primary", "danger"):
        e.add(f"{at}/style", "must be one of primary, danger")
    _action_id(e, el, at, action_ids)


def _action_id(e: _Errors, el: dict, at: str, action_ids: dict[str, str]) -> None:
    aid = el.get("action_id")
    if aid is None:
        return
    if not isinstance(aid, str) or not aid or len(aid) > ACTION_ID_MAX:
        e.add(f"{at}/action_id", f"must be between 1 and {ACTION_ID_MAX} characters")
    # BUTTON: action_id "should be unique among all other action_ids in the containing block"; the issue
    # (#25) holds us to the stricter form, one use per message, so a click always names one element.
    elif aid in action_ids:
        e.add(f"{at}/action_id", f"duplicate action_id {aid!r} (first at {action_ids[aid]})")
    else:
        action_ids[aid] = at


def _element(e: _Errors, el: Any, at: str, action_ids: dict[str, str]) -> None:
    if not isinstance(el, dict):
        e.add(at, "must be an object")
        return
    kind = el.get("type")
    if kind == "button":
        _button(e, el, at, action_ids)
    elif kind == "image":
        _image_fields(e, el, at)
    elif kind in ("overflow", "static_select", "users_select", "conversations_select", "channels_select",
                  "datepicker", "timepicker", "checkboxes", "radio_buttons", "multi_static_select"):
        _action_id(e, el, at, action_ids)  # not used by driftbot; only the shared rules
    else:
        e.add(f"{at}/type", f"unsupported element type {kind!r}")


def _image_fields(e: _Errors, el: dict, at: str) -> None:
    # IMAGE: image_url max 3000 (or slack_file), alt_text required, max 2000.
    url = el.get("image_url")
    if not (isinstance(url, str) and 0 < len(url) <= URL_MAX) and "slack_file" not in el:
        e.add(f"{at}/image_url", f"must be between 1 and {URL_MAX} characters")
    alt = el.get("alt_text")
    if not isinstance(alt, str) or not alt or len(alt) > ALT_TEXT_MAX:
        e.add(f"{at}/alt_text", f"must be between 1 and {ALT_TEXT_MAX} characters")


def block_errors(blocks: Any, surface: str = "message", root: str = "/blocks") -> list[str]:
    """Every rule *blocks* breaks on *surface* (``message``, ``home``, ``modal``); [] when Slack takes them."""
    e = _Errors()
    if not isinstance(blocks, list):
        e.add(root, "must be an array")
        return e.items
    limit = BLOCKS_MAX[surface]
    if len(blocks) > limit:  # BLOCKS
        e.add(root, f"no more than {limit} items allowed")
    block_ids: dict[str, str] = {}
    action_ids: dict[str, str] = {}
    for i, b in enumerate(blocks):
        at = f"{root}/{i}"
        if not isinstance(b, dict):
            e.add(at, "must be an object")
            continue
        bid = b.get("block_id")
        if bid is not None:  # every block: block_id max 255, "unique for each message"
            if not isinstance(bid, str) or not bid or len(bid) > BLOCK_ID_MAX:
                e.add(f"{at}/block_id", f"must be between 1 and {BLOCK_ID_MAX} characters")
            elif bid in block_ids:
                e.add(f"{at}/block_id", f"duplicate block_id {bid!r} (first at {block_ids[bid]})")
            else:
                block_ids[bid] = at
        kind = b.get("type")
        if kind == "section":  # SECTION: text (1..3000) or fields (max 10, each max 2000), or both
            if "text" not in b and "fields" not in b:
                e.add(at, "must provide either text or fields")
            if "text" in b:
                _text_object(e, b["text"], f"{at}/text", max_len=SECTION_TEXT_MAX)
            if "fields" in b:
                fields = b["fields"]
                if not isinstance(fields, list) or not fields:
                    e.add(f"{at}/fields", "must be a non-empty array")
                else:
                    if len(fields) > FIELDS_MAX:
                        e.add(f"{at}/fields", f"no more than {FIELDS_MAX} items allowed")
                    for j, f in enumerate(fields):
                        _text_object(e, f, f"{at}/fields/{j}", max_len=FIELD_TEXT_MAX)
            if "accessory" in b:
                _element(e, b["accessory"], f"{at}/accessory", action_ids)
        elif kind == "header":  # HEADER: plain_text, max 150
            _text_object(e, b.get("text"), f"{at}/text", max_len=HEADER_TEXT_MAX, plain_only=True)
        elif kind == "context":  # CONTEXT: 1 to 10 elements, text objects or images
            els = b.get("elements")
            if not isinstance(els, list) or not els:
                e.add(f"{at}/elements", "must be a non-empty array")
                continue
            if len(els) > CONTEXT_ELEMENTS_MAX:
                e.add(f"{at}/elements", f"no more than {CONTEXT_ELEMENTS_MAX} items allowed")
            for j, el in enumerate(els):
                if isinstance(el, dict) and el.get("type") == "image":
                    _image_fields(e, el, f"{at}/elements/{j}")
                else:
                    _text_object(e, el, f"{at}/elements/{j}")
        elif kind == "actions":  # ACTIONS: 1 to 25 interactive elements
            els = b.get("elements")
            if not isinstance(els, list) or not els:
                e.add(f"{at}/elements", "must be a non-empty array")
                continue
            if len(els) > ACTIONS_ELEMENTS_MAX:
                e.add(f"{at}/elements", f"no more than {ACTIONS_ELEMENTS_MAX} items allowed")
            for j, el in enumerate(els):
                _element(e, el, f"{at}/elements/{j}", action_ids)
        elif kind == "divider":  # DIVIDER: nothing but type and block_id
            pass
        elif kind == "image":  # IMAGE
            _image_fields(e, b, at)
        elif kind == "markdown" and surface == "message":  # MARKDOWN: messages only, max 12,000
            text = b.get("text")
            if not isinstance(text, str) or not text or len(text) > MARKDOWN_BLOCK_MAX:
                e.add(f"{at}/text", f"must be between 1 and {MARKDOWN_BLOCK_MAX} characters")
        else:
            e.add(f"{at}/type", f"unsupported block type {kind!r} on a {surface}")
    return e.items


def _refused(error: str, errors: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error": error}
    if errors:
        body["errors"] = errors
        body["response_metadata"] = {"messages": [f"[ERROR] {m}" for m in errors]}
    return body


def decoded(value: Any) -> Any:
    """A JSON argument as Slack reads it: form posts carry it as a string, JSON posts as itself."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return _UNPARSEABLE
    return value


_UNPARSEABLE = object()


def message_errors(params: dict[str, Any], *, needs_channel: bool = True) -> dict[str, Any] | None:
    """Slack's answer to a message (``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``) it
    refuses, or None. POST: channel is required; one of text, blocks, attachments is required."""
    if needs_channel and not params.get("channel"):
        return _refused("invalid_arguments", ["missing required field: channel"])
    text, blocks, attachments = params.get("text"), decoded(params.get("blocks")), decoded(params.get("attachments"))
    if blocks is _UNPARSEABLE or attachments is _UNPARSEABLE:
        return _refused("invalid_blocks_format" if blocks is _UNPARSEABLE else "invalid_attachments")
    if not text and not blocks and not attachments:
        return _refused("no_text")
    if text is not None and not isinstance(text, str):
        return _refused("invalid_arguments", ["text must be a string"])
    if text and len(text) > MESSAGE_TEXT_MAX:  # POST, TRUNC
        return _refused("msg_too_long")
    if attachments and len(attachments) > ATTACHMENTS_MAX:  # POST
        return _refused("too_many_attachments")
    if blocks:
        errors = block_errors(blocks, "message")
        if errors:
            return _refused("invalid_blocks", errors)
    return None


def view_errors(params: dict[str, Any]) -> dict[str, Any] | None:
    """Slack's answer to a ``views.publish`` it refuses, or None (PUBLISH, HOME)."""
    if not params.get("user_id"):
        return _refused("invalid_arguments", ["missing required field: user_id"])
    raw = params.get("view")
    view = decoded(raw)
    if not isinstance(view, dict):
        return _refused("invalid_arguments", ["missing required field: view"])
    if len(json.dumps(view).encode()) > VIEW_BYTES_MAX:
        return _refused("view_too_large")
    e = _Errors()
    if view.get("type") != "home":
        e.add("/view/type", "must be home for views.publish")
    for key, limit in (("private_metadata", PRIVATE_METADATA_MAX), ("callback_id", CALLBACK_ID_MAX)):
        if key in view and (not isinstance(view[key], str) or len(view[key]) > limit):
            e.add(f"/view/{key}", f"must be less than {limit + 1} characters")
    if "blocks" not in view:
        e.add("/view/blocks", "missing required field: blocks")
    errors = e.items + block_errors(view.get("blocks", []), "home", root="/view/blocks")
    # PUBLISH: a malformed view is invalid_arguments, its reasons in response_metadata.messages.
    return _refused("invalid_arguments", errors) if errors else None


def upload_url_errors(params: dict[str, Any]) -> dict[str, Any] | None:
    """UPLOAD: filename and length (bytes, an integer) are required; length 0 is missing_argument."""
    if not params.get("filename") or params.get("length") in (None, ""):
        return _refused("invalid_arguments", ["missing required field: filename or length"])
    try:
        length = int(params["length"])
    except (TypeError, ValueError):
        return _refused("invalid_arguments", ["length must be an integer"])
    if length <= 0:
        return _refused("missing_argument")
    alt = params.get("alt_txt")
    if alt is not None and len(str(alt)) > ALT_TXT_MAX:
        return _refused("alt_txt_too_large")
    return None


def complete_errors(params: dict[str, Any]) -> dict[str, Any] | None:
    """COMPLETE: files (an array of {id, title?}) is required; thread_ts needs the one channel it is in;
    initial_comment is message text (POST's limit)."""
    files = decoded(params.get("files"))
    if not isinstance(files, list) or not files or not all(isinstance(f, dict) and f.get("id") for f in files):
        return _refused("invalid_arguments", ["files must be an array of objects with an id"])
    if params.get("thread_ts") and not (params.get("channel_id") or params.get("channels")):
        return _refused("invalid_arguments", ["thread_ts requires channel_id"])
    if params.get("thread_ts") and "," in str(params.get("channels") or ""):
        return _refused("invalid_arguments", ["thread_ts allows only one channel"])
    comment = params.get("initial_comment")
    if comment and len(comment) > MESSAGE_TEXT_MAX:
        return _refused("msg_too_long")
    return None


def conversation_info(channel: str, known: dict[str, Any] | None, scopes: list[str]) -> dict[str, Any]:
    """CONVINFO: Slack's answer to conversations.info for *channel*, the workspace's record of it being *known*
    (None: no such channel); the token has *scopes*."""
    if known is None:
        return {"ok": False, "error": "channel_not_found"}
    needed = "groups:read" if known.get("is_private") else "channels:read"
    if needed not in scopes:  # SCOPES
        return {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(scopes)}
    if known.get("is_private") and not known.get("is_member"):  # the bot cannot see it
        return {"ok": False, "error": "channel_not_found"}
    return {"ok": True, "channel": {"id": channel, "name": known.get("name", channel.lower()), "is_channel": True,
                                    "is_private": bool(known.get("is_private")),
                                    "is_archived": bool(known.get("is_archived")),
                                    "is_member": bool(known.get("is_member"))}}


def posting_refusal(known: dict[str, Any] | None, scopes: list[str]) -> dict[str, Any] | None:
    """POSTCH: why Slack refuses a message to a channel, from the workspace's record of it (None: none)."""
    if known is None or (known.get("is_private") and not known.get("is_member")):
        return {"ok": False, "error": "channel_not_found"}
    if known.get("is_archived"):
        return {"ok": False, "error": "is_archived"}
    if not known.get("is_member") and "chat:write.public" not in scopes:
        return {"ok": False, "error": "not_in_channel"}
    return None


def refusal(method: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Slack's error body for a call it refuses by its documented rules, or None when it takes it."""
    if method == "chat.postMessage":
        return message_errors(params)
    if method == "chat.update":  # UPDATE: channel and ts are required
        if not params.get("channel") or not params.get("ts"):
            return _refused("invalid_arguments", ["missing required field: channel or ts"])
        return message_errors(params)
    if method == "chat.postEphemeral":  # EPHEM: channel and user are required
        if not params.get("user"):
            return _refused("invalid_arguments", ["missing required field: user"])
        return message_errors(params)
    if method == "views.publish":
        return view_errors(params)
    if method == "files.getUploadURLExternal":
        return upload_url_errors(params)
    if method == "files.completeUploadExternal":
        return complete_errors(params)
    if method == "conversations.info" and not params.get("channel"):  # CONVINFO: channel is required
        return _refused("invalid_arguments", ["missing required field: channel"])
    return None


def message_violations(text: str | None, blocks: list | None) -> list[str]:
    """The rules a message breaks, for tests that check a payload without posting it ([] when none)."""
    answer = message_errors({"channel": "C0", "text": text, "blocks": blocks})
    if answer is None:
        return []
    return answer.get("errors") or [answer["error"]]


def home_violations(view: dict) -> list[str]:
    """The rules a Home tab view breaks ([] when none)."""
    answer = view_errors({"user_id": "U0", "view": view})
    if answer is None:
        return []
    return answer.get("errors") or [answer["error"]]
