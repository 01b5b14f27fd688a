"""Corrections to the OpenAPI document FAB generates for a REST resource, where it says something
else than the API answers (found by tests/test_api_fuzz.py). Each is cheap and exact; a client
generated from the document then reads the answers it gets.

- a 400's ``message`` is a text (a bad URL argument) or an object {field: [reasons]} (a bad body);
  FAB documents a text only;
- ids (``ids`` of a list, ``id`` of a record and of a created one) are integers; FAB says strings;
- ``_info``'s add_columns / edit_columns are lists of field descriptions; FAB says an object;
- a date and time is answered without a time zone ("2026-11-30T10:00:00", the district's local
  time), which is not RFC 3339's ``date-time``: documented by a pattern (with or without one);
- every operation may answer 403 (the role may not), one of a record 404 (no such record in the
  user's scope), and GET of a record whose id is not a whole number 405 (that URL is PUT's and
  DELETE's, whose ``<pk>`` takes any text); FAB leaves them out.
"""
import copy

DATE_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"
MESSAGE = {"oneOf": [{"type": "string"}, {"type": "object", "description": "{field: [reasons]}; a list field's "
                                                                           "reasons by item: {field: {index: [reasons]}}"}]}


def correct(api_spec, api):
    """Correct, in place, ``api_spec``'s entries of REST resource ``api`` (after FAB added them)."""
    for code in ("400", "422"):
        if code in api_spec.components.responses:  # a copy: FAB's dict is shared by every API class
            response = api_spec.components.responses[code] = copy.deepcopy(api_spec.components.responses[code])
            _message_schema(response)["message"] = copy.deepcopy(MESSAGE)
    prefix = api.route_base
    for path, operations in api_spec._paths.items():
        if path != prefix and not path.startswith(prefix + "/"):
            continue
        for method, operation in operations.items():
            _statuses(path, method, operation.setdefault("responses", {}))
            for code, response in (operation.get("responses") or {}).items():
                properties = _message_schema(response)
                if properties is None:
                    continue
                if "ids" in properties:
                    properties["ids"]["items"] = {"type": "integer"}
                if "id" in properties and str(code) in ("200", "201") and method in ("get", "post"):
                    properties["id"] = {"type": "integer", "description": properties["id"].get("description", "")}
                for key in ("add_columns", "edit_columns"):
                    if key in properties:
                        properties[key] = {"type": "array", "items": {"type": "object"}}
    own = f"{type(api).__name__}."
    for name, schema in api_spec.components.schemas.items():
        if name.startswith(own):
            _naive_date_times(schema)


def _statuses(path, method, responses):
    declared = {str(code) for code in responses}
    if "403" not in declared:
        responses["403"] = {"$ref": "#/components/responses/403"}
    if "{" in path and "404" not in declared:
        responses["404"] = {"$ref": "#/components/responses/404"}
    if path.endswith("/{pk}") and method == "get" and "405" not in declared:
        responses["405"] = {"description": "The id is not a whole number (the URL of PUT and DELETE)"}


def _message_schema(response):
    """The ``properties`` of a JSON response's schema (inline only), or None."""
    schema = (((response or {}).get("content") or {}).get("application/json") or {}).get("schema") or {}
    return schema.get("properties")


def _naive_date_times(schema):
    for prop in (schema.get("properties") or {}).values():
        if isinstance(prop, dict) and prop.get("format") == "date-time":
            del prop["format"]
            prop["pattern"] = DATE_TIME_PATTERN
