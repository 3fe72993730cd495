// RestoreStream's reactor: reads requests as they come, restores them
// concurrently and writes each answer when ready (one write outstanding at a
// time, as gRPC requires). The call ends once the client is done sending
// and every answer is written.
#pragma once

#include <grpcpp/grpcpp.h>

#include "codiff/v1/codiff.grpc.pb.h"

namespace codiff::server {

class RestorationService;

grpc::ServerBidiReactor<codiff::v1::RestoreRequest, codiff::v1::RestoreResponse>*
NewRestoreStreamCall(RestorationService* service, grpc::CallbackServerContext* context);

}  // namespace codiff::server
