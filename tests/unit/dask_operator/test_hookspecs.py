import inspect

from dask_operator import hookspecs


def specs():
    return {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("dask_")
    }


def test_every_hook_is_documented():
    for name, fn in specs().items():
        doc = inspect.getdoc(fn) or ""
        for part in ("When:", "Returns:"):
            assert part in doc, f"{name} docstring lacks {part!r}"
        first_line = doc.splitlines()[0]
        assert first_line.endswith("."), f"{name}: summary line should be a sentence"
        says_rule = "Pure" in doc or "Notification" in doc
        assert says_rule, f"{name}: docstring must state the sync/async rule"


def test_async_hooks_are_exactly_the_notifications():
    for name, fn in specs().items():
        doc = inspect.getdoc(fn) or ""
        assert ("may be ``async def``" in doc) == (name in hookspecs.ASYNC_HOOKS), name


def test_firstresult_hooks_say_so():
    for name, fn in specs().items():
        opts = getattr(fn, hookspecs.PROJECT_NAME + "_spec")
        if opts["firstresult"]:
            assert "firstresult" in (inspect.getdoc(fn) or ""), name
            assert name not in hookspecs.ASYNC_HOOKS, name
