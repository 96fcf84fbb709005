"""The shapes of the ``mesos.v1.scheduler.Call`` protobuf, and stout's JSON -> protobuf conversion rules.

Mesos never looks at a scheduler call's JSON directly: ``Master::Http::scheduler``
first converts the body into the ``Call`` protobuf (stout's ``protobuf::parse``)
and answers 400 "Failed to convert JSON into Call protobuf: ..." when a value
does not fit its field.  :func:`parse` does the same conversion for the embedded
master: it checks every JSON value against the field table below and returns a
normalized copy (what the protobuf would hold), so later code only ever sees
well-typed calls.

The conversion rules (3rdparty/stout/include/stout/protobuf.hpp), as implemented here:

* an object is accepted only for a message field; a string, number or boolean
  only for a scalar or enum field of the matching kind, otherwise
  "Not expecting a JSON <kind> for field '<name>'";
* an array is accepted only for a repeated field (its items are converted one by
  one, nested arrays flattened); a single non-array value for a repeated field
  is taken as a one-item list;
* ``null`` means "not set", also inside arrays;
* a string is accepted for a number or bool field when it parses as JSON of that
  kind (``"1.5"``, ``"true"``; ``"Infinity"`` for double/float);
* a number for an integer field is truncated to an integer, and wraps around as a C++ cast does
  when it does not fit the field (``-1`` for a ``uint64`` is ``2^64 - 1``);
* enums are matched by name; an unknown name is an error for a required enum and
  silently drops the value of an optional or repeated one (proto2 behaviour);
* bytes are base64 (whitespace skipped, decoding stops at the first ``=``); we
  keep them as canonical base64 text;
* JSON keys that are no field of the message are dropped;
* object keys are visited in sorted order and the first error wins;
* after a successful conversion, required fields missing anywhere are reported
  together as "Missing required fields: a.b, c[0].d" (protobuf's
  ``InitializationErrorString`` order: a message's own required fields, then its
  sub-messages by field number).

The table covers the messages the embedded master and agents read: the scheduler
``Call`` and, for the operator API, ``master.Call`` and ``agent.Call`` (one checker
for both APIs, as Mesos converts both with the same ``protobuf::parse``).  Message
fields outside it (marked ``~``, e.g. ``TaskInfo.check``, ``Resource.disk``,
``Subscribe.offer_constraints``) are checked to be JSON objects and passed on
unchanged; real Mesos type-checks those too (documented in docs/local-cluster.md).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from airflow_mesos.exceptions import AirflowMesosError

__all__ = ["ENUMS", "MAX_JSON_DEPTH", "MESSAGES", "Field", "ProtoError", "check", "parse", "parse_json_body"]


class ProtoError(AirflowMesosError):
    """A JSON value does not fit the protobuf message (stout's conversion error).

    ``message`` is stout's text (what Mesos answers); ``path`` says where in the
    input it happened (``accept.operations[0].launch.task_infos[0].task_id.value``),
    empty for errors about the whole document or the missing-fields summary.
    """

    def __init__(self, message: str, path: str = "") -> None:
        self.message = message
        self.path = path
        super().__init__(f"{message} (at '{path}')" if path else message)


# Field table.  One entry per message: ``name=number:type`` items in the order
# the .proto declares them.  ``!`` marks a required field, ``*`` a repeated one,
# ``{string:T}`` a map, ``~T`` a message we only check to be an object.  Other
# types are protobuf scalars, names in ENUMS, or names in this table.
_MESSAGE_TABLE: dict[str, str] = {
    "Call": ("framework_id=1:FrameworkID type=2:Call.Type subscribe=3:Call.Subscribe accept=4:Call.Accept "
             "decline=5:Call.Decline accept_inverse_offers=13:Call.AcceptInverseOffers "
             "decline_inverse_offers=14:Call.DeclineInverseOffers revive=15:Call.Revive kill=6:Call.Kill "
             "shutdown=7:Call.Shutdown acknowledge=8:Call.Acknowledge "
             "acknowledge_operation_status=17:Call.AcknowledgeOperationStatus reconcile=9:Call.Reconcile "
             "reconcile_operations=18:Call.ReconcileOperations message=10:Call.Message request=11:Call.Request "
             "suppress=16:Call.Suppress update_framework=19:Call.UpdateFramework"),
    "Call.Subscribe": ("framework_info=1:FrameworkInfo! suppressed_roles=2:string* "
                       "offer_constraints=3:~OfferConstraints"),
    "Call.Accept": "offer_ids=1:OfferID* operations=2:Offer.Operation* filters=3:Filters",
    "Call.Decline": "offer_ids=1:OfferID* filters=2:Filters",
    "Call.AcceptInverseOffers": "inverse_offer_ids=1:OfferID* filters=2:Filters",
    "Call.DeclineInverseOffers": "inverse_offer_ids=1:OfferID* filters=2:Filters",
    "Call.Revive": "roles=1:string*",
    "Call.Kill": "task_id=1:TaskID! agent_id=2:AgentID kill_policy=3:KillPolicy",
    "Call.Shutdown": "executor_id=1:ExecutorID! agent_id=2:AgentID!",
    "Call.Acknowledge": "agent_id=1:AgentID! task_id=2:TaskID! uuid=3:bytes!",
    "Call.AcknowledgeOperationStatus": ("agent_id=1:AgentID resource_provider_id=2:ResourceProviderID "
                                        "uuid=3:bytes! operation_id=4:OperationID!"),
    "Call.Reconcile": "tasks=1:Call.Reconcile.Task*",
    "Call.Reconcile.Task": "task_id=1:TaskID! agent_id=2:AgentID",
    "Call.ReconcileOperations": "operations=1:Call.ReconcileOperations.Operation*",
    "Call.ReconcileOperations.Operation": ("operation_id=1:OperationID! agent_id=2:AgentID "
                                           "resource_provider_id=3:ResourceProviderID"),
    "Call.Message": "agent_id=1:AgentID! executor_id=2:ExecutorID! data=3:bytes!",
    "Call.Request": "requests=1:Request*",
    "Call.Suppress": "roles=1:string*",
    "Call.UpdateFramework": ("framework_info=1:FrameworkInfo! suppressed_roles=2:string* "
                             "offer_constraints=3:~OfferConstraints"),
    "FrameworkID": "value=1:string!",
    "OfferID": "value=1:string!",
    "TaskID": "value=1:string!",
    "AgentID": "value=1:string!",
    "ExecutorID": "value=1:string!",
    "ResourceProviderID": "value=1:string!",
    "OperationID": "value=1:string!",
    "FrameworkInfo": ("user=1:string! name=2:string! id=3:FrameworkID failover_timeout=4:double "
                      "checkpoint=5:bool role=6:string roles=12:string* hostname=7:string principal=8:string "
                      "webui_url=9:string capabilities=10:FrameworkInfo.Capability* labels=11:Labels "
                      "offer_filters=13:{string:~OfferFilters}"),
    "FrameworkInfo.Capability": "type=1:FrameworkInfo.Capability.Type",
    "Labels": "labels=1:Label*",
    "Label": "key=1:string! value=2:string",
    "Filters": "refuse_seconds=1:double",
    "Offer.Operation": ("type=1:Offer.Operation.Type id=12:OperationID launch=2:Offer.Operation.Launch "
                        "launch_group=7:Offer.Operation.LaunchGroup reserve=3:~Offer.Operation.Reserve "
                        "unreserve=4:~Offer.Operation.Unreserve create=5:~Offer.Operation.Create "
                        "destroy=6:~Offer.Operation.Destroy grow_volume=13:~Offer.Operation.GrowVolume "
                        "shrink_volume=14:~Offer.Operation.ShrinkVolume create_disk=15:~Offer.Operation.CreateDisk "
                        "destroy_disk=16:~Offer.Operation.DestroyDisk"),
    "Offer.Operation.Launch": "task_infos=1:TaskInfo*",
    "Offer.Operation.LaunchGroup": "executor=1:ExecutorInfo! task_group=2:TaskGroupInfo!",
    "TaskGroupInfo": "tasks=1:TaskInfo*",
    "TaskInfo": ("name=1:string! task_id=2:TaskID! agent_id=3:AgentID! resources=4:Resource* "
                 "executor=5:ExecutorInfo command=7:CommandInfo container=9:ContainerInfo health_check=8:HealthCheck "
                 "check=13:~CheckInfo kill_policy=12:KillPolicy data=6:bytes labels=10:Labels discovery=11:DiscoveryInfo "
                 "max_completion_time=14:DurationInfo limits=15:{string:Value.Scalar}"),
    "ExecutorInfo": ("type=15:ExecutorInfo.Type executor_id=1:ExecutorID! framework_id=8:FrameworkID "
                     "command=7:CommandInfo container=11:ContainerInfo resources=5:Resource* name=9:string source=10:string "
                     "data=4:bytes discovery=12:DiscoveryInfo shutdown_grace_period=13:DurationInfo labels=14:Labels"),
    "CommandInfo": ("uris=1:CommandInfo.URI* environment=2:Environment shell=6:bool value=3:string "
                    "arguments=7:string* user=5:string"),
    "CommandInfo.URI": "value=1:string! executable=2:bool extract=3:bool cache=4:bool output_file=5:string",
    "Environment": "variables=1:Environment.Variable*",
    "Environment.Variable": "name=1:string! type=3:Environment.Variable.Type value=2:string secret=4:Secret",
    "Secret": "type=1:Secret.Type reference=2:Secret.Reference value=3:Secret.Value",
    "Secret.Reference": "name=1:string! key=2:string",
    "Secret.Value": "data=1:bytes!",
    "ContainerInfo": ("type=1:ContainerInfo.Type! volumes=2:Volume* hostname=4:string "
                      "docker=3:ContainerInfo.DockerInfo mesos=5:ContainerInfo.MesosInfo network_infos=7:NetworkInfo* "
                      "linux_info=8:~LinuxInfo rlimit_info=9:~RLimitInfo tty_info=10:~TTYInfo"),
    "ContainerInfo.DockerInfo": ("image=1:string! network=2:ContainerInfo.DockerInfo.Network "
                                 "port_mappings=3:ContainerInfo.DockerInfo.PortMapping* privileged=4:bool parameters=5:Parameter* "
                                 "force_pull_image=6:bool volume_driver=7:string"),
    "ContainerInfo.DockerInfo.PortMapping": "host_port=1:uint32! container_port=2:uint32! protocol=3:string",
    "ContainerInfo.MesosInfo": "image=1:Image",
    "Parameter": "key=1:string! value=2:string!",
    "Parameters": "parameter=1:Parameter*",
    "Image": "type=1:Image.Type! appc=2:Image.Appc docker=3:Image.Docker cached=4:bool",
    "Image.Docker": "name=1:string! credential=2:Credential config=3:Secret",
    "Image.Appc": "name=1:string! id=2:string labels=3:Labels",
    "NetworkInfo": ("ip_addresses=5:NetworkInfo.IPAddress* name=6:string groups=3:string* labels=4:Labels "
                    "port_mappings=7:NetworkInfo.PortMapping*"),
    "NetworkInfo.IPAddress": "protocol=1:NetworkInfo.Protocol ip_address=2:string",
    "NetworkInfo.PortMapping": "host_port=1:uint32! container_port=2:uint32! protocol=3:string",
    "Volume": ("mode=3:Volume.Mode! container_path=1:string! host_path=2:string image=4:Image "
               "source=5:Volume.Source"),
    "Volume.Source": ("type=1:Volume.Source.Type docker_volume=2:Volume.Source.DockerVolume "
                      "host_path=5:Volume.Source.HostPath sandbox_path=3:Volume.Source.SandboxPath secret=4:Secret "
                      "csi_volume=6:~Volume.Source.CSIVolume"),
    "Volume.Source.DockerVolume": "driver=1:string name=2:string! driver_options=3:Parameters",
    "Volume.Source.HostPath": "path=1:string! mount_propagation=2:MountPropagation",
    "Volume.Source.SandboxPath": "type=1:Volume.Source.SandboxPath.Type path=2:string!",
    "MountPropagation": "mode=1:MountPropagation.Mode",
    "Credential": "principal=1:string! secret=2:string",
    "Resource": ("provider_id=12:ResourceProviderID name=1:string! type=2:Value.Type! scalar=3:Value.Scalar "
                 "ranges=4:Value.Ranges set=5:Value.Set role=6:string allocation_info=11:Resource.AllocationInfo "
                 "reservation=8:Resource.ReservationInfo reservations=13:Resource.ReservationInfo* "
                 "disk=7:~Resource.DiskInfo revocable=9:~Resource.RevocableInfo shared=10:~Resource.SharedInfo"),
    "Resource.AllocationInfo": "role=1:string",
    "Resource.ReservationInfo": ("type=4:Resource.ReservationInfo.Type role=3:string principal=1:string "
                                 "labels=2:Labels"),
    "Value.Scalar": "value=1:double!",
    "Value.Ranges": "range=1:Value.Range*",
    "Value.Range": "begin=1:uint64! end=2:uint64!",
    "Value.Set": "item=1:string*",
    "KillPolicy": "grace_period=1:DurationInfo",
    "DurationInfo": "nanoseconds=1:int64!",
    "HealthCheck": ("delay_seconds=2:double interval_seconds=3:double timeout_seconds=4:double "
                    "consecutive_failures=5:uint32 grace_period_seconds=6:double type=8:HealthCheck.Type "
                    "command=7:CommandInfo http=1:HealthCheck.HTTPCheckInfo tcp=9:HealthCheck.TCPCheckInfo"),
    "HealthCheck.HTTPCheckInfo": ("protocol=5:NetworkInfo.Protocol scheme=3:string port=1:uint32! "
                                  "path=2:string statuses=4:uint32*"),
    "HealthCheck.TCPCheckInfo": "protocol=2:NetworkInfo.Protocol port=1:uint32!",
    "DiscoveryInfo": ("visibility=1:DiscoveryInfo.Visibility! name=2:string environment=3:string "
                      "location=4:string version=5:string ports=6:Ports labels=7:Labels"),
    "Ports": "ports=1:Port*",
    "Port": ("number=1:uint32! name=2:string protocol=3:string visibility=4:DiscoveryInfo.Visibility "
             "labels=5:Labels"),
    "Request": "agent_id=1:AgentID resources=2:Resource*",
    # mesos.v1.master.Call (include/mesos/v1/master/master.proto): the operator API of the master.
    "master.Call": ("type=1:master.Call.Type get_metrics=2:master.Call.GetMetrics "
                    "set_logging_level=3:master.Call.SetLoggingLevel list_files=4:master.Call.ListFiles "
                    "read_file=5:master.Call.ReadFile update_weights=6:master.Call.UpdateWeights "
                    "reserve_resources=7:master.Call.ReserveResources "
                    "unreserve_resources=8:master.Call.UnreserveResources create_volumes=9:master.Call.CreateVolumes "
                    "destroy_volumes=10:master.Call.DestroyVolumes grow_volume=18:master.Call.GrowVolume "
                    "shrink_volume=19:master.Call.ShrinkVolume "
                    "update_maintenance_schedule=11:master.Call.UpdateMaintenanceSchedule "
                    "start_maintenance=12:master.Call.StartMaintenance stop_maintenance=13:master.Call.StopMaintenance "
                    "drain_agent=21:master.Call.DrainAgent deactivate_agent=22:master.Call.DeactivateAgent "
                    "reactivate_agent=23:master.Call.ReactivateAgent update_quota=20:master.Call.UpdateQuota "
                    "teardown=16:master.Call.Teardown mark_agent_gone=17:master.Call.MarkAgentGone "
                    "set_quota=14:master.Call.SetQuota remove_quota=15:master.Call.RemoveQuota"),
    "master.Call.GetMetrics": "timeout=1:DurationInfo",
    "master.Call.SetLoggingLevel": "level=1:uint32! duration=2:DurationInfo!",
    "master.Call.ListFiles": "path=1:string!",
    "master.Call.ReadFile": "path=1:string! offset=2:uint64! length=3:uint64",
    "master.Call.UpdateWeights": "weight_infos=1:~WeightInfo*",
    "master.Call.ReserveResources": "agent_id=1:AgentID! source=3:Resource* resources=2:Resource*",
    "master.Call.UnreserveResources": "agent_id=1:AgentID! resources=2:Resource*",
    "master.Call.CreateVolumes": "agent_id=1:AgentID! volumes=2:Resource*",
    "master.Call.DestroyVolumes": "agent_id=1:AgentID! volumes=2:Resource*",
    "master.Call.GrowVolume": "agent_id=1:AgentID volume=2:Resource! addition=3:Resource!",
    "master.Call.ShrinkVolume": "agent_id=1:AgentID volume=2:Resource! subtract=3:Value.Scalar!",
    "master.Call.UpdateMaintenanceSchedule": "schedule=1:~maintenance.Schedule!",
    "master.Call.StartMaintenance": "machines=1:~MachineID*",
    "master.Call.StopMaintenance": "machines=1:~MachineID*",
    "master.Call.DrainAgent": "agent_id=1:AgentID! max_grace_period=2:~google.protobuf.Duration mark_gone=3:bool",
    "master.Call.DeactivateAgent": "agent_id=1:AgentID!",
    "master.Call.ReactivateAgent": "agent_id=1:AgentID!",
    "master.Call.UpdateQuota": "force=1:bool quota_configs=2:~quota.QuotaConfig*",
    "master.Call.SetQuota": "quota_request=1:~quota.QuotaRequest!",
    "master.Call.RemoveQuota": "role=1:string!",
    "master.Call.Teardown": "framework_id=1:FrameworkID!",
    "master.Call.MarkAgentGone": "agent_id=1:AgentID!",
    # mesos.v1.agent.Call (include/mesos/v1/agent/agent.proto): the operator API of an agent.  The container
    # and resource provider payloads are only checked to be objects: the embedded agent answers 501 to them.
    "agent.Call": ("type=1:agent.Call.Type get_metrics=2:agent.Call.GetMetrics "
                   "set_logging_level=3:agent.Call.SetLoggingLevel list_files=4:agent.Call.ListFiles "
                   "read_file=5:agent.Call.ReadFile get_containers=20:agent.Call.GetContainers "
                   "launch_nested_container=6:~agent.Call.LaunchNestedContainer "
                   "wait_nested_container=7:~agent.Call.WaitNestedContainer "
                   "kill_nested_container=8:~agent.Call.KillNestedContainer "
                   "remove_nested_container=12:~agent.Call.RemoveNestedContainer "
                   "launch_nested_container_session=9:~agent.Call.LaunchNestedContainerSession "
                   "attach_container_input=10:~agent.Call.AttachContainerInput "
                   "attach_container_output=11:~agent.Call.AttachContainerOutput "
                   "launch_container=13:~agent.Call.LaunchContainer wait_container=14:~agent.Call.WaitContainer "
                   "kill_container=15:~agent.Call.KillContainer remove_container=16:~agent.Call.RemoveContainer "
                   "add_resource_provider_config=17:~agent.Call.AddResourceProviderConfig "
                   "update_resource_provider_config=18:~agent.Call.UpdateResourceProviderConfig "
                   "remove_resource_provider_config=19:~agent.Call.RemoveResourceProviderConfig "
                   "mark_resource_provider_gone=22:~agent.Call.MarkResourceProviderGone "
                   "prune_images=21:~agent.Call.PruneImages"),
    "agent.Call.GetMetrics": "timeout=1:DurationInfo",
    "agent.Call.SetLoggingLevel": "level=1:uint32! duration=2:DurationInfo!",
    "agent.Call.ListFiles": "path=1:string!",
    "agent.Call.ReadFile": "path=1:string! offset=2:uint64! length=3:uint64",
    "agent.Call.GetContainers": "show_nested=1:bool show_standalone=2:bool",
    # mesos.v1.executor.Call (include/mesos/v1/executor/executor.proto): what an executor sends its agent.
    "executor.Call": ("executor_id=1:ExecutorID! framework_id=2:FrameworkID! type=3:executor.Call.Type "
                      "subscribe=4:executor.Call.Subscribe update=5:executor.Call.Update "
                      "message=6:executor.Call.Message"),
    "executor.Call.Subscribe": "unacknowledged_tasks=1:TaskInfo* unacknowledged_updates=2:executor.Call.Update*",
    "executor.Call.Update": "status=1:TaskStatus!",
    "executor.Call.Message": "data=2:bytes!",
    "TaskStatus": ("task_id=1:TaskID! state=2:TaskState! message=4:string source=9:TaskStatus.Source "
                   "reason=10:TaskStatus.Reason data=3:bytes agent_id=5:AgentID executor_id=7:ExecutorID "
                   "timestamp=6:double uuid=11:bytes healthy=8:bool check_status=15:~CheckStatusInfo "
                   "labels=12:Labels container_status=13:~ContainerStatus unreachable_time=14:~TimeInfo "
                   "limitation=16:~TaskResourceLimitation"),
}

# Enum value names per enum type, in declaration order.
_ENUM_TABLE: dict[str, str] = {
    "Call.Type": ("UNKNOWN SUBSCRIBE TEARDOWN ACCEPT DECLINE ACCEPT_INVERSE_OFFERS DECLINE_INVERSE_OFFERS "
                  "REVIVE KILL SHUTDOWN ACKNOWLEDGE ACKNOWLEDGE_OPERATION_STATUS RECONCILE RECONCILE_OPERATIONS MESSAGE "
                  "REQUEST SUPPRESS UPDATE_FRAMEWORK"),
    "ContainerInfo.DockerInfo.Network": "HOST BRIDGE NONE USER",
    "executor.Call.Type": "UNKNOWN SUBSCRIBE UPDATE MESSAGE HEARTBEAT",
    "TaskState": ("TASK_STAGING TASK_STARTING TASK_RUNNING TASK_KILLING TASK_FINISHED TASK_FAILED TASK_KILLED "
                  "TASK_ERROR TASK_LOST TASK_DROPPED TASK_UNREACHABLE TASK_GONE TASK_GONE_BY_OPERATOR TASK_UNKNOWN"),
    "TaskStatus.Source": "SOURCE_MASTER SOURCE_AGENT SOURCE_EXECUTOR",
    "TaskStatus.Reason": ('REASON_COMMAND_EXECUTOR_FAILED REASON_CONTAINER_LAUNCH_FAILED REASON_CONTAINER_LIMITATION '
                           'REASON_CONTAINER_LIMITATION_DISK REASON_CONTAINER_LIMITATION_MEMORY REASON_CONTAINER_PREEMPTED '
                           'REASON_CONTAINER_UPDATE_FAILED REASON_MAX_COMPLETION_TIME_REACHED '
                           'REASON_EXECUTOR_REGISTRATION_TIMEOUT REASON_EXECUTOR_REREGISTRATION_TIMEOUT '
                           'REASON_EXECUTOR_TERMINATED REASON_EXECUTOR_UNREGISTERED REASON_FRAMEWORK_REMOVED '
                           'REASON_GC_ERROR REASON_INVALID_FRAMEWORKID REASON_INVALID_OFFERS REASON_IO_SWITCHBOARD_EXITED '
                           'REASON_MASTER_DISCONNECTED REASON_RECONCILIATION REASON_RESOURCES_UNKNOWN '
                           'REASON_AGENT_DISCONNECTED REASON_AGENT_DRAINING REASON_AGENT_REMOVED '
                           'REASON_AGENT_REMOVED_BY_OPERATOR REASON_AGENT_REREGISTERED REASON_AGENT_RESTARTED '
                           'REASON_AGENT_UNKNOWN REASON_TASK_KILLED_DURING_LAUNCH REASON_TASK_CHECK_STATUS_UPDATED '
                           'REASON_TASK_HEALTH_CHECK_STATUS_UPDATED REASON_TASK_GROUP_INVALID '
                           'REASON_TASK_GROUP_UNAUTHORIZED REASON_TASK_INVALID REASON_TASK_UNAUTHORIZED REASON_TASK_UNKNOWN'),
    "ContainerInfo.Type": "DOCKER MESOS",
    "DiscoveryInfo.Visibility": "FRAMEWORK CLUSTER EXTERNAL",
    "Environment.Variable.Type": "UNKNOWN VALUE SECRET",
    "ExecutorInfo.Type": "UNKNOWN DEFAULT CUSTOM",
    "FrameworkInfo.Capability.Type": ("UNKNOWN REVOCABLE_RESOURCES TASK_KILLING_STATE GPU_RESOURCES "
                                      "SHARED_RESOURCES PARTITION_AWARE MULTI_ROLE RESERVATION_REFINEMENT REGION_AWARE"),
    "HealthCheck.Type": "UNKNOWN COMMAND HTTP TCP",
    "Image.Type": "APPC DOCKER",
    "MountPropagation.Mode": "UNKNOWN HOST_TO_CONTAINER BIDIRECTIONAL",
    "NetworkInfo.Protocol": "IPv4 IPv6",
    "Offer.Operation.Type": ("UNKNOWN LAUNCH LAUNCH_GROUP RESERVE UNRESERVE CREATE DESTROY GROW_VOLUME "
                             "SHRINK_VOLUME CREATE_DISK DESTROY_DISK"),
    "Resource.ReservationInfo.Type": "UNKNOWN STATIC DYNAMIC",
    "Secret.Type": "UNKNOWN REFERENCE VALUE",
    "Value.Type": "SCALAR RANGES SET TEXT",
    "Volume.Mode": "RW RO",
    "Volume.Source.SandboxPath.Type": "UNKNOWN SELF PARENT",
    "Volume.Source.Type": "UNKNOWN DOCKER_VOLUME HOST_PATH SANDBOX_PATH SECRET CSI_VOLUME",
    "master.Call.Type": ("UNKNOWN GET_HEALTH GET_FLAGS GET_VERSION GET_METRICS GET_LOGGING_LEVEL SET_LOGGING_LEVEL "
                         "LIST_FILES READ_FILE GET_STATE GET_AGENTS GET_FRAMEWORKS GET_EXECUTORS GET_OPERATIONS "
                         "GET_TASKS GET_ROLES GET_WEIGHTS UPDATE_WEIGHTS GET_MASTER SUBSCRIBE RESERVE_RESOURCES "
                         "UNRESERVE_RESOURCES CREATE_VOLUMES DESTROY_VOLUMES GROW_VOLUME SHRINK_VOLUME "
                         "GET_MAINTENANCE_STATUS GET_MAINTENANCE_SCHEDULE UPDATE_MAINTENANCE_SCHEDULE "
                         "START_MAINTENANCE STOP_MAINTENANCE DRAIN_AGENT DEACTIVATE_AGENT REACTIVATE_AGENT GET_QUOTA "
                         "UPDATE_QUOTA SET_QUOTA REMOVE_QUOTA TEARDOWN MARK_AGENT_GONE"),
    "agent.Call.Type": ("UNKNOWN GET_HEALTH GET_FLAGS GET_VERSION GET_METRICS GET_LOGGING_LEVEL SET_LOGGING_LEVEL "
                        "LIST_FILES READ_FILE GET_STATE GET_CONTAINERS GET_FRAMEWORKS GET_EXECUTORS GET_OPERATIONS "
                        "GET_TASKS GET_AGENT GET_RESOURCE_PROVIDERS ADD_RESOURCE_PROVIDER_CONFIG "
                        "UPDATE_RESOURCE_PROVIDER_CONFIG REMOVE_RESOURCE_PROVIDER_CONFIG MARK_RESOURCE_PROVIDER_GONE "
                        "PRUNE_IMAGES LAUNCH_NESTED_CONTAINER WAIT_NESTED_CONTAINER KILL_NESTED_CONTAINER "
                        "REMOVE_NESTED_CONTAINER LAUNCH_NESTED_CONTAINER_SESSION ATTACH_CONTAINER_INPUT "
                        "ATTACH_CONTAINER_OUTPUT LAUNCH_CONTAINER WAIT_CONTAINER KILL_CONTAINER REMOVE_CONTAINER"),
}

ENUMS: dict[str, frozenset[str]] = {name: frozenset(values.split()) for name, values in _ENUM_TABLE.items()}

_FLOATS = frozenset({"double", "float"})
_INTEGERS = frozenset({"int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64",
                       "sfixed32", "sfixed64"})
_SCALARS = _FLOATS | _INTEGERS | {"string", "bytes", "bool"}
_INTEGER_WIDTH = {"int32": (32, True), "sint32": (32, True), "sfixed32": (32, True), "int64": (64, True),
                  "sint64": (64, True), "sfixed64": (64, True), "uint32": (32, False), "fixed32": (32, False),
                  "uint64": (64, False), "fixed64": (64, False)}


@dataclass(frozen=True)
class Field:
    """One field of a message: ``kind`` is scalar, enum, message, opaque (unchecked message) or map."""

    name: str
    number: int
    kind: str
    type: str
    label: str  # "required", "optional" or "repeated"
    map_value: Field | None = None

    @property
    def repeated(self) -> bool:
        return self.label == "repeated"


def _field_kind(type_name: str) -> tuple[str, str]:
    if type_name.startswith("~"):
        return "opaque", type_name[1:]
    if type_name in _SCALARS:
        return "scalar", type_name
    if type_name in _ENUM_TABLE:
        return "enum", type_name
    if type_name in _MESSAGE_TABLE:
        return "message", type_name
    raise ValueError(f"proto table: unknown type {type_name!r}")


_ITEM = re.compile(r"(?P<name>\w+)=(?P<number>\d+):(?P<type>\{string:[~\w.]+\}|~?[\w.]+)(?P<label>[!*]?)$")


def _build(table: dict[str, str]) -> dict[str, dict[str, Field]]:
    messages: dict[str, dict[str, Field]] = {}
    for message, spec in table.items():
        fields: dict[str, Field] = {}
        for item in spec.split():
            match = _ITEM.match(item)
            if match is None:
                raise ValueError(f"proto table: bad item {item!r} in {message}")
            name, number, type_name = match["name"], int(match["number"]), match["type"]
            label = {"!": "required", "*": "repeated", "": "optional"}[match["label"]]
            if type_name.startswith("{"):
                kind, target = _field_kind(type_name[len("{string:"):-1])
                value = Field("value", 2, kind, target, "optional")
                fields[name] = Field(name, number, "map", type_name, "repeated", value)
            else:
                kind, target = _field_kind(type_name)
                fields[name] = Field(name, number, kind, target, label)
        messages[message] = fields
    return messages


MESSAGES: dict[str, dict[str, Field]] = _build(_MESSAGE_TABLE)
"""Message name -> field name -> :class:`Field`, in declaration order."""


# -- JSON text ---------------------------------------------------------------------------------------------

def _refuse_constant(token: str) -> float:
    # Python's json accepts NaN/Infinity; Mesos' JSON parser (picojson) does not.
    raise ValueError(f"syntax error: '{token}' is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        # picojson throws std::overflow_error here; stout turns it into this message.
        raise ValueError("Value out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


MAX_JSON_DEPTH = 200
"""stout's ``STOUT_JSON_MAX_DEPTH``: deeper arrays/objects are a JSON syntax error."""


def _depth(value: object) -> int:
    """How deep arrays and objects nest in ``value``: level by level, so each level's scalars are dropped
    by one comprehension and its children gathered by ``extend`` (a request body has thousands of nodes)."""
    depth, level = 0, [value]
    while True:
        containers = [item for item in level if isinstance(item, (list, dict))]
        if not containers:
            return depth
        depth += 1
        level = []
        for item in containers:
            level.extend(item.values() if isinstance(item, dict) else item)


def parse_json_body(text: str | bytes) -> Any:
    """Parse a request body as Mesos' JSON parser would; raises ValueError with the reason."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise ValueError(f"syntax error: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"syntax error: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _parse_json_scalar(text: str) -> Any:
    """stout's ``JSON::parse`` of a string field value (used for "1.5" -> 1.5); raises ValueError."""
    stripped = text.strip()
    try:
        value, end = _DECODER.raw_decode(stripped)
    except json.JSONDecodeError as exc:
        raise ValueError(f"syntax error at line {exc.lineno} near: {stripped[exc.pos:]}") from None
    except RecursionError:
        raise ValueError(f"syntax error: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    if end != len(stripped):
        raise ValueError(f"Parsed JSON included non-whitespace trailing characters: {stripped[end:]}")
    return value


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


_BASE64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def _canonical_base64(text: str, field: Field, path: str) -> str:
    """stout's lenient base64 decoding (skip whitespace, stop at '='), re-encoded canonically."""
    symbols = []
    for ch in text:
        if ch == "=":
            break
        if ch.isspace():
            continue
        if ch not in _BASE64_ALPHABET:
            raise ProtoError(f"Failed to base64 decode bytes field '{field.name}': Invalid character '{ch}'", path)
        symbols.append(ch)
    # A lone symbol after the last full group of four holds no whole byte; stout drops it.
    usable = len(symbols) - 1 if len(symbols) % 4 == 1 else len(symbols)
    chunk = "".join(symbols[:usable])
    padded = chunk + "=" * (-len(chunk) % 4)
    try:
        raw = base64.b64decode(padded)
    except (binascii.Error, ValueError):  # cannot happen for alphabet-only input; be safe
        raise ProtoError(f"Failed to base64 decode bytes field '{field.name}'", path) from None
    return base64.b64encode(raw).decode("ascii")


# -- conversion --------------------------------------------------------------------------------------------

def _string_value(field: Field, text: str, path: str) -> Any:
    """A JSON string for ``field``: the converted value, or _UNSET for a dropped unknown enum."""
    if field.kind == "scalar":
        if field.type == "string":
            return text
        if field.type == "bytes":
            return _canonical_base64(text, field, path)
        if field.type == "bool":
            try:
                parsed = _parse_json_scalar(text)
                if not isinstance(parsed, bool):
                    raise ValueError("Unexpected JSON type parsed")  # noqa: TRY004 - becomes stout's message below
            except ValueError as exc:
                raise ProtoError(f"Failed to parse '{text}' as a JSON boolean for field '{field.name}': {exc}",
                                 path) from None
            return parsed
        if field.type in _FLOATS and text in ("Infinity", "-Infinity"):
            return math.inf if text == "Infinity" else -math.inf
        try:
            parsed = _parse_json_scalar(text)
            if isinstance(parsed, bool) or not isinstance(parsed, (int, float)):
                raise ValueError("Unexpected JSON type parsed")  # noqa: TRY004 - becomes stout's message below
        except ValueError as exc:
            raise ProtoError(f"Failed to parse '{text}' as a JSON number for field '{field.name}': {exc}",
                             path) from None
        return _number_value(field, parsed, path)
    if field.kind == "enum":
        if text in ENUMS[field.type]:
            return text
        if field.label == "required":
            raise ProtoError(f"Failed to find enum for '{text}'", path)
        return _UNSET
    raise ProtoError(f"Not expecting a JSON string for field '{field.name}'", path)


def _number_value(field: Field, number: float, path: str) -> Any:
    if field.kind == "scalar" and field.type in _FLOATS:
        return float(number)
    if field.kind == "scalar" and field.type in _INTEGERS:
        if isinstance(number, float) and not math.isfinite(number):
            raise ProtoError(f"Value out of range for field '{field.name}'", path)
        # stout's ``JSON::Number::as<T>()`` is a static_cast: out-of-range values wrap around
        # (a uint64 offset of -1 becomes 2^64 - 1), they are not refused.
        bits, signed = _INTEGER_WIDTH[field.type]
        value = int(number) % (1 << bits)
        return value - (1 << bits) if signed and value >= 1 << (bits - 1) else value
    raise ProtoError(f"Not expecting a JSON number for field '{field.name}'", path)


_UNSET = object()


def _convert(field: Field, value: object, path: str, out: dict) -> None:
    """Store ``value`` (JSON) for ``field`` into the message ``out``, the way stout's Parser visitor does."""
    if value is None:
        return
    if isinstance(value, list):
        if not field.repeated:
            raise ProtoError(f"Not expecting a JSON array for field '{field.name}'", path)
        for index, item in enumerate(value):
            _convert(field, item, f"{path}[{index}]", out)
        return
    if isinstance(value, dict):
        if field.kind == "map":
            entries = out.setdefault(field.name, {})
            for key in sorted(value):
                holder: dict = {}
                _convert(field.map_value, value[key], f"{path}.{key}", holder)  # type: ignore[arg-type]
                entries[key] = holder.get("value", {} if field.map_value.kind != "scalar" else None)  # type: ignore[union-attr]
            return
        if field.kind == "message":
            converted: Any = _message(field.type, value, path)
        elif field.kind == "opaque":
            converted = value
        else:
            raise ProtoError(f"Not expecting a JSON object for field '{field.name}'", path)
    elif isinstance(value, bool):
        if not (field.kind == "scalar" and field.type == "bool"):
            raise ProtoError(f"Not expecting a JSON boolean for field '{field.name}'", path)
        converted = value
    elif isinstance(value, (int, float)):
        converted = _number_value(field, value, path)
    elif isinstance(value, str):
        converted = _string_value(field, value, path)
        if converted is _UNSET:
            return
    else:
        raise ProtoError(f"Not expecting a {type(value).__name__} for field '{field.name}'", path)
    if field.repeated:
        out.setdefault(field.name, []).append(converted)
    else:
        out[field.name] = converted


def _message(name: str, obj: dict, path: str) -> dict:
    fields = MESSAGES[name]
    out: dict = {}
    # stout's JSON::Object is a std::map: keys are visited in sorted order, so the first error is deterministic.
    for key in sorted(obj):
        field = fields.get(key)
        if field is not None:
            _convert(field, obj[key], f"{path}.{key}" if path else key, out)
    return out


def _required_plan(fields: dict[str, Field]) -> tuple[tuple[str, ...], tuple[Field, ...]]:
    """A message's required field names (in declaration order) and the fields that can hold messages with
    required fields of their own, by field number: what _missing_required visits."""
    required = tuple(f.name for f in fields.values() if f.label == "required")
    nested = tuple(f for f in sorted(fields.values(), key=lambda f: f.number)
                   if f.kind == "message" or (f.kind == "map" and f.map_value is not None
                                              and f.map_value.kind == "message"))
    return required, nested


_REQUIRED_PLANS: dict[str, tuple[tuple[str, ...], tuple[Field, ...]]] = {
    name: _required_plan(fields) for name, fields in MESSAGES.items()}


def _missing_required(name: str, message: dict, prefix: str, found: list[str]) -> None:
    required, nested = _REQUIRED_PLANS[name]
    for field_name in required:
        if field_name not in message:
            found.append(prefix + field_name)
    for field in nested:
        if field.name not in message:
            continue
        if field.kind == "message":
            if field.repeated:
                for index, item in enumerate(message[field.name]):
                    _missing_required(field.type, item, f"{prefix}{field.name}[{index}].", found)
            else:
                _missing_required(field.type, message[field.name], f"{prefix}{field.name}.", found)
        elif field.kind == "map" and field.map_value is not None and field.map_value.kind == "message":
            for index, entry in enumerate(message[field.name].values()):
                _missing_required(field.map_value.type, entry, f"{prefix}{field.name}[{index}].value.", found)


def parse(message_name: str, obj: object) -> dict:
    """Convert JSON ``obj`` into message ``message_name`` as Mesos would; returns the normalized message.

    Raises :class:`ProtoError` with stout's message (and where it happened) when it does not fit.
    """
    if message_name not in MESSAGES:
        raise KeyError(f"unknown message {message_name!r}")
    if not isinstance(obj, dict):
        raise ProtoError("Expecting a JSON object")
    message = _message(message_name, obj, "")
    missing: list[str] = []
    _missing_required(message_name, message, "", missing)
    if missing:
        raise ProtoError("Missing required fields: " + ", ".join(missing))
    return message


def check(message_name: str, obj: object) -> None:
    """Raise :class:`ProtoError` when JSON ``obj`` would not convert into message ``message_name``."""
    parse(message_name, obj)
