"""The form engine: format, rules, validation, XLSForm, the campaign's forms.

- `forms.definition`: check_definition and the JSON Schema (form.schema.json)
- `forms.jsonlogic`: JSON Logic as json-logic-js evaluates it (+ forms/rules.js)
- `forms.submission`: validate_submission, resolve_answers, evaluate_calculations
- `forms.answers`: answer types and the error catalogue
- `forms.xlsform`, `forms.xlsform_expr`: XLSForm workbooks in and out
- `forms.shipped`: the household and enterprise forms (definitions/*.json)
- `forms.commands`: the `sotay forms` CLI group

Pure: imports neither Flask, SQLAlchemy nor CouchDB. Format: docs/forms.md.
"""
