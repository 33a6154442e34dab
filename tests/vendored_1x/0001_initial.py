"""A 1.x migration as a project vendored it; this app's own migration of that name is it."""

from importlib import import_module

Migration = import_module("canvas_oauth.migrations.0001_initial").Migration
