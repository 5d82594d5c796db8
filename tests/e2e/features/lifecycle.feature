@lifecycle
Feature: Server lifecycle
  Starting, listing, stopping and removing servers (run, start, list, stop, rm, logs).
  The scenarios arrive with the launcher; this file fixes the feature area's place.
