#include "collect/resp_reader.hpp"

#include <hiredis/hiredis.h>

namespace pgvigil::redis {

namespace {

Reply convert(const redisReply& in) {
  Reply out;
  switch (in.type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::string;
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::status;
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::error;
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::integer;
      out.integer = in.integer;
      return out;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::array;
      out.elements.reserve(in.elements);
      for (std::size_t i = 0; i < in.elements; ++i)
        if (in.element[i] != nullptr) out.elements.push_back(convert(*in.element[i]));
      return out;
    default:
      out.type = Reply::Type::nil;
      return out;
  }
  if (in.str != nullptr) out.text.assign(in.str, static_cast<std::size_t>(in.len));
  return out;
}

}  // namespace

std::string encode_command(std::initializer_list<std::string_view> args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (auto arg : args) {
    out += "$" + std::to_string(arg.size()) + "\r\n";
    out += arg;
    out += "\r\n";
  }
  return out;
}

RespReader::RespReader(std::size_t limit) : reader_(redisReaderCreate()), limit_(limit) {
  if (reader_ == nullptr) error_ = "out of memory creating the RESP reader";
}

RespReader::~RespReader() {
  if (reader_ != nullptr) redisReaderFree(reader_);
}

RespReader::Status RespReader::feed(std::string_view bytes) {
  if (!error_.empty()) return Status::error;
  buffered_ += bytes.size();
  if (buffered_ > limit_) {
    error_ = "reply larger than " + std::to_string(limit_) + " bytes";
    return Status::error;
  }
  if (redisReaderFeed(reader_, bytes.data(), bytes.size()) != REDIS_OK) {
    error_ = reader_->errstr[0] != '\0' ? reader_->errstr : "cannot buffer the reply";
    return Status::error;
  }
  return Status::incomplete;
}

RespReader::Status RespReader::next(Reply& out) {
  if (!error_.empty()) return Status::error;
  void* raw = nullptr;
  if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
    // hiredis' messages name the offending byte, never the reply's content.
    error_ = reader_->errstr[0] != '\0' ? reader_->errstr : "protocol error";
    if (raw != nullptr) freeReplyObject(raw);
    return Status::error;
  }
  if (raw == nullptr) return Status::incomplete;
  auto* reply = static_cast<redisReply*>(raw);
  out = convert(*reply);
  freeReplyObject(reply);
  // What is still buffered belongs to replies not yet complete; counting
  // from zero again is an approximation that errs towards allowing more.
  buffered_ = 0;
  return Status::reply;
}

}  // namespace pgvigil::redis
