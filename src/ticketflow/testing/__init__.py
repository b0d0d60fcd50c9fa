"""Testing kit for process tests: fixtures, path drivers, assertions and BPMN coverage."""
