"""Running BPMN on SpiffWorkflow: the safe evaluator, compact state, one instance per ticket."""
