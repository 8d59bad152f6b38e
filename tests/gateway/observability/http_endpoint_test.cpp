// Tests of gateway/observability/http_endpoint: what each request is answered.
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <gtest/gtest.h>

#include "gateway/observability/http_endpoint.hpp"

namespace perch::gateway {
namespace {

namespace http = boost::beast::http;

observability_sources sources_with(health_answer health) {
    return observability_sources{[] { return std::string("perch_up 1\n"); },
                                 [health] { return health; }};
}

http_request request_for(http::verb method, std::string target) {
    http_request request{method, target, 11};
    request.set(http::field::host, "127.0.0.1");
    return request;
}

TEST(HttpEndpoint, ServesMetricsAsPrometheusText) {
    const http_response response =
        answer_http_request(request_for(http::verb::get, "/metrics"), sources_with({true, ""}));

    EXPECT_EQ(response.result(), http::status::ok);
    EXPECT_EQ(response.body(), "perch_up 1\n");
    EXPECT_EQ(response[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_TRUE(response.keep_alive());
}

TEST(HttpEndpoint, IgnoresAQueryString) {
    const http_response response = answer_http_request(
        request_for(http::verb::get, "/metrics?name=x"), sources_with({true, ""}));

    EXPECT_EQ(response.result(), http::status::ok);
}

TEST(HttpEndpoint, HeadSendsTheLengthWithoutTheBody) {
    const http_response response =
        answer_http_request(request_for(http::verb::head, "/metrics"), sources_with({true, ""}));

    EXPECT_EQ(response.result(), http::status::ok);
    EXPECT_TRUE(response.body().empty());
    EXPECT_EQ(response[http::field::content_length], "11");
}

TEST(HttpEndpoint, HealthyBrokerAnswersOk) {
    const http_response response =
        answer_http_request(request_for(http::verb::get, "/healthz"), sources_with({true, ""}));

    EXPECT_EQ(response.result(), http::status::ok);
    EXPECT_EQ(response.body(), "{\"status\":\"ok\"}\n");
}

TEST(HttpEndpoint, StoreRefusingWritesAnswers503WithTheReason) {
    const http_response response = answer_http_request(
        request_for(http::verb::get, "/healthz"), sources_with({false, "store: \"disk\" full"}));

    EXPECT_EQ(response.result(), http::status::service_unavailable);
    EXPECT_EQ(response.body(),
              "{\"status\":\"unavailable\",\"reason\":\"store: \\\"disk\\\" full\"}\n");
}

TEST(HttpEndpoint, UnknownPathIs404) {
    const http_response response =
        answer_http_request(request_for(http::verb::get, "/nothing"), sources_with({true, ""}));

    EXPECT_EQ(response.result(), http::status::not_found);
}

TEST(HttpEndpoint, OtherMethodsAre405WithAllow) {
    const http_response response =
        answer_http_request(request_for(http::verb::post, "/metrics"), sources_with({true, ""}));

    EXPECT_EQ(response.result(), http::status::method_not_allowed);
    EXPECT_EQ(response[http::field::allow], "GET, HEAD");
}

TEST(HttpEndpoint, ConnectionCloseIsKept) {
    http_request request = request_for(http::verb::get, "/healthz");
    request.keep_alive(false);

    EXPECT_FALSE(answer_http_request(request, sources_with({true, ""})).keep_alive());
}

TEST(HttpEndpoint, ErrorResponseClosesTheConnection) {
    const http_response response =
        http_error_response(http::status::request_header_fields_too_large);

    EXPECT_EQ(response.result_int(), 431U);
    EXPECT_FALSE(response.keep_alive());
}

} // namespace
} // namespace perch::gateway
