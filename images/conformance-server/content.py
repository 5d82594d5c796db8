"""What the conformance server lists and answers, as plain data: tools (with their input
schemas), resources, the resource template, prompts, and the small image and sound it
returns. The handlers in server.py turn these into the SDK's types."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any


def _png_1x1() -> str:
    """A 1x1 red PNG, base64, made here rather than pasted in."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte, then one red pixel
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
    return base64.b64encode(png + chunk(b"IEND", b"")).decode()


def _wav_silence() -> str:
    """A WAV of one silent 16-bit mono sample at 8 kHz, base64."""
    samples = b"\x00\x00"
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(samples)) + samples
    return base64.b64encode(b"RIFF" + struct.pack("<I", len(body)) + body).decode()


IMAGE_PNG = _png_1x1()
AUDIO_WAV = _wav_silence()

NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}


def _tool(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "description": description, "inputSchema": schema or NO_ARGUMENTS}


def _one_string(name: str, description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": "string", "description": description}},
        "required": [name],
    }


TOOLS: list[dict[str, Any]] = [
    _tool("test_simple_text", "Returns one text block"),
    _tool("test_image_content", "Returns one PNG image"),
    _tool("test_audio_content", "Returns one WAV sound"),
    _tool("test_embedded_resource", "Returns one embedded text resource"),
    _tool("test_multiple_content_types", "Returns text, an image and an embedded resource"),
    _tool("test_tool_with_logging", "Sends three info log messages while it runs"),
    _tool("test_tool_with_progress", "Reports progress 0, 50 and 100 of 100"),
    _tool("test_error_handling", "Always fails, as a tool error (isError)"),
    _tool(
        "test_sampling",
        "Asks the client's model (sampling/createMessage) and returns its answer",
        _one_string("prompt", "What to ask the model"),
    ),
    _tool(
        "test_elicitation",
        "Asks the client's user (elicitation/create) for a username and an email",
        _one_string("message", "What to show the user"),
    ),
    _tool("test_elicitation_sep1034_defaults", "Elicits a form with a default for every type"),
    _tool("test_elicitation_sep1330_enums", "Elicits a form with every kind of choice"),
    _tool("test_reconnection", "Closes its SSE stream mid-call; the client resumes it"),
    _tool(
        "json_schema_2020_12_tool",
        "Takes an input schema that uses JSON Schema 2020-12 keywords",
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {
                "address": {
                    "type": "object",
                    "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
                }
            },
            "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
            "additionalProperties": False,
        },
    ),
]

RESOURCES: dict[str, dict[str, Any]] = {
    "test://static-text": {
        "uri": "test://static-text",
        "name": "static-text",
        "description": "A text resource that never changes",
        "mimeType": "text/plain",
        "text": "This is the content of the static text resource.",
    },
    "test://static-binary": {
        "uri": "test://static-binary",
        "name": "static-binary",
        "description": "A binary resource (a PNG) that never changes",
        "mimeType": "image/png",
    },
    "test://watched-resource": {
        "uri": "test://watched-resource",
        "name": "watched-resource",
        "description": "A text resource a client may subscribe to",
        "mimeType": "text/plain",
        "text": "Watched resource content",
    },
}

TEMPLATE: dict[str, Any] = {
    "uriTemplate": "test://template/{id}/data",
    "name": "template-data",
    "description": "JSON data for any id",
    "mimeType": "application/json",
}


def template_text(id: str) -> str:
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


def _argument(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "description": description, "required": True}


PROMPTS: list[dict[str, Any]] = [
    {"name": "test_simple_prompt", "description": "A prompt without arguments"},
    {
        "name": "test_prompt_with_arguments",
        "description": "A prompt with two required arguments",
        "arguments": [_argument("arg1", "First argument"), _argument("arg2", "Second argument")],
    },
    {
        "name": "test_prompt_with_embedded_resource",
        "description": "A prompt that embeds a resource",
        "arguments": [_argument("resourceUri", "The URI of the resource to embed")],
    },
    {"name": "test_prompt_with_image", "description": "A prompt that carries an image"},
]


def _user(content: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": content}


def _text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def prompt_messages(name: str, arguments: dict[str, str]) -> list[dict[str, Any]] | None:
    """The messages of prompt `name`, or None if there is no such prompt."""
    if name == "test_simple_prompt":
        return [_user(_text("This is a simple prompt for testing."))]
    if name == "test_prompt_with_arguments":
        arg1, arg2 = arguments.get("arg1", ""), arguments.get("arg2", "")
        return [_user(_text(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"))]
    if name == "test_prompt_with_embedded_resource":
        resource = {
            "uri": arguments.get("resourceUri", "test://static-text"),
            "mimeType": "text/plain",
            "text": "Embedded resource content for testing.",
        }
        return [
            _user({"type": "resource", "resource": resource}),
            _user(_text("Please process the embedded resource above.")),
        ]
    if name == "test_prompt_with_image":
        return [
            _user({"type": "image", "data": IMAGE_PNG, "mimeType": "image/png"}),
            _user(_text("Please analyze the image above.")),
        ]
    return None
