"""Small BPMN documents for tests, built from a template so each test changes one thing."""

from __future__ import annotations

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://t">\n'
)


def loop_process(
    condition: str = "again == True",
    script: str = "rounds = rounds + 1",
    lane: str = "agents",
    fields: str = '<camunda:formField id="again" type="boolean" />',
    process_id: str = "loop",
    extra: str = "",
) -> str:
    """start -> merge -> work (user task) -> count (script) -> gw: again? back to merge : end."""
    return (
        HEADER
        + f"""  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:extensionElements>
      <camunda:properties>
        <camunda:property name="ticketflow.default.rounds" value="0" />
      </camunda:properties>
    </bpmn:extensionElements>
    <bpmn:laneSet id="ls"><bpmn:lane id="{lane}"><bpmn:flowNodeRef>work</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:exclusiveGateway id="merge"><bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:userTask id="work" name="Work">
      <bpmn:extensionElements><camunda:formData>{fields}</camunda:formData></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:scriptTask id="count" scriptFormat="ticketflow"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw" default="f6"><bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing><bpmn:outgoing>f6</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f6</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="merge" />
    <bpmn:sequenceFlow id="f2" sourceRef="merge" targetRef="work" />
    <bpmn:sequenceFlow id="f3" sourceRef="work" targetRef="count" />
    <bpmn:sequenceFlow id="f4" sourceRef="count" targetRef="gw" />
    <bpmn:sequenceFlow id="f5" sourceRef="gw" targetRef="merge">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f6" sourceRef="gw" targetRef="end" />
{extra}  </bpmn:process>
</bpmn:definitions>
"""
    )
