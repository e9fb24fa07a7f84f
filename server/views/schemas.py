"""marshmallow schemas for what views accept."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from server.errors import problem


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class DecisionSchema(Schema):
    decision = fields.String(required=True,
                             validate=validate.OneOf(["approved", "needs_correction", "rejected"]))
    comment = fields.String(load_default="", validate=validate.Length(max=2000))
    rev = fields.String(required=True)
    csrf = fields.String(load_default=None)


class SettleSchema(Schema):
    settlement = fields.String(required=True,
                               validate=validate.OneOf(["same", "revisit", "different"]))
    csrf = fields.String(load_default=None)


def load(schema: Schema, data: Any) -> dict:
    try:
        return schema.load(data or {}, unknown="exclude")
    except ValidationError as err:
        raise problem("invalid_input", fields=err.messages) from err
