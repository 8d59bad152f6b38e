// Tests of gateway/common/topic_acl.cpp and of access_policy over it: the acl_file format, its
// matching rules, and the secure default without an acl (docs/ACCESS.md).
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "gateway/chat/access_policy.hpp"
#include "gateway/common/config.hpp"
#include "gateway/common/topic_acl.hpp"

namespace perch::gateway {
namespace {

using want = topic_acl::want;

const std::string alice = "alice";
const std::string bob = "bob";

TEST(TopicAcl, ParsesEveryForm) {
    const topic_acl acl = topic_acl::parse("# a comment\n"
                                           "\n"
                                           "topic public/#\n"
                                           "  topic read   news/#  \n"
                                           "user alice\n"
                                           "topic write sensors/+/temp\n"
                                           "topic readwrite home/#\n"
                                           "topic deny home/secret\n"
                                           "pattern read users/%u/#\n"
                                           "user bob\n"
                                           "topic read home/#\n"
                                           "pattern write clients/%c/out\n",
                                           "test.acl");
    ASSERT_EQ(acl.anonymous_rules().size(), 2U);
    EXPECT_EQ(acl.anonymous_rules()[0].access, acl_access::readwrite);
    EXPECT_EQ(acl.anonymous_rules()[0].filter, "public/#");
    EXPECT_EQ(acl.anonymous_rules()[1].access, acl_access::read);
    EXPECT_EQ(acl.anonymous_rules()[1].filter, "news/#");
    ASSERT_EQ(acl.user_rules("alice").size(), 3U);
    EXPECT_EQ(acl.user_rules("alice")[0].access, acl_access::write);
    EXPECT_EQ(acl.user_rules("alice")[1].access, acl_access::readwrite);
    EXPECT_EQ(acl.user_rules("alice")[2].access, acl_access::deny);
    ASSERT_EQ(acl.user_rules("bob").size(), 1U);
    EXPECT_TRUE(acl.user_rules("carol").empty());
    ASSERT_EQ(acl.patterns().size(), 2U);
    // A lone access word is the filter, as in Mosquitto.
    EXPECT_EQ(topic_acl::parse("topic read\n", "t").anonymous_rules()[0].filter, "read");
    EXPECT_EQ(acl.patterns()[0].filter, "users/%u/#");
    EXPECT_EQ(acl.patterns()[1].access, acl_access::write);
}

void expect_error(const std::string& text, std::size_t line, const std::string& fragment) {
    try {
        (void)topic_acl::parse(text, "bad.acl");
        ADD_FAILURE() << "no error for: " << text;
    } catch (const config_error& error) {
        EXPECT_EQ(error.line_number(), line) << error.what();
        EXPECT_NE(std::string(error.what()).find("bad.acl:" + std::to_string(line)),
                  std::string::npos)
            << error.what();
        EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
    }
}

TEST(TopicAcl, ErrorsNameTheLine) {
    expect_error("topic a\nbogus b\n", 2, "unknown keyword");
    expect_error("# c\nuser\n", 2, "needs a user name");
    expect_error("\n\n\ntopic\n", 4, "needs a topic filter");
    expect_error("topic a/#/b\n", 1, "invalid topic filter");
    expect_error("pattern read a+/b\n", 1, "invalid topic filter");
    expect_error("topic $share/g/a\n", 1, "invalid topic filter");
}

TEST(TopicAcl, AccessWordsGrantWhatTheySay) {
    const topic_acl acl = topic_acl::parse("user alice\n"
                                           "topic read r/#\n"
                                           "topic write w/#\n"
                                           "topic readwrite rw/#\n"
                                           "topic both/#\n",
                                           "t");
    EXPECT_TRUE(acl.allows_topic(&alice, "c", want::read, "r/x"));
    EXPECT_FALSE(acl.allows_topic(&alice, "c", want::write, "r/x"));
    EXPECT_FALSE(acl.allows_topic(&alice, "c", want::read, "w/x"));
    EXPECT_TRUE(acl.allows_topic(&alice, "c", want::write, "w/x"));
    EXPECT_TRUE(acl.allows_topic(&alice, "c", want::read, "rw/x"));
    EXPECT_TRUE(acl.allows_topic(&alice, "c", want::write, "rw/x"));
    EXPECT_TRUE(acl.allows_topic(&alice, "c", want::write, "both/x"));
    // No rule: refused.
    EXPECT_FALSE(acl.allows_topic(&alice, "c", want::read, "other"));
    // Another user's block does not apply.
    EXPECT_FALSE(acl.allows_topic(&bob, "c", want::read, "r/x"));
}

TEST(TopicAcl, DenyWinsWhereverItStands) {
    const topic_acl acl = topic_acl::parse("user alice\n"
                                           "topic deny home/secret\n"
                                           "topic readwrite home/#\n"
                                           "pattern deny home/%c/private\n",
                                           "t");
    EXPECT_TRUE(acl.allows_topic(&alice, "c1", want::read, "home/door"));
    EXPECT_FALSE(acl.allows_topic(&alice, "c1", want::read, "home/secret"));
    EXPECT_FALSE(acl.allows_topic(&alice, "c1", want::write, "home/secret"));
    EXPECT_FALSE(acl.allows_topic(&alice, "c1", want::write, "home/c1/private"));
    EXPECT_TRUE(acl.allows_topic(&alice, "c2", want::write, "home/c1/private"));
    // A subscription a deny rule covers is refused; one that only overlaps it is granted and
    // its deliveries are checked one by one.
    EXPECT_FALSE(acl.allows_subscribe(&alice, "c1", "home/secret"));
    EXPECT_TRUE(acl.allows_subscribe(&alice, "c1", "home/#"));
}

TEST(TopicAcl, RulesAddedToAParsedFileJoinItsBlocks) {
    topic_acl acl = topic_acl::parse("topic read public/#\n"
                                     "user alice\n"
                                     "topic readwrite home/#\n",
                                     "t");
    acl.add_user_rule("alice", {acl_access::deny, "home/safe"});
    acl.add_user_rule("bob", {acl_access::read, "home/#"});
    acl.add_anonymous_rule({acl_access::write, "public/inbox"});
    acl.add_pattern({acl_access::readwrite, "devices/%c"});
    const std::string bob = "bob";
    EXPECT_TRUE(acl.allows_topic(&alice, "c", want::write, "home/door"));
    // A deny from the added rules wins over a grant of the file.
    EXPECT_FALSE(acl.allows_topic(&alice, "c", want::read, "home/safe"));
    EXPECT_TRUE(acl.allows_topic(&bob, "c", want::read, "home/door"));
    EXPECT_FALSE(acl.allows_topic(&bob, "c", want::write, "home/door"));
    EXPECT_TRUE(acl.allows_topic(nullptr, "c", want::read, "public/x"));
    EXPECT_TRUE(acl.allows_topic(nullptr, "c", want::write, "public/inbox"));
    EXPECT_TRUE(acl.allows_topic(&bob, "d1", want::write, "devices/d1"));
}

TEST(TopicAcl, AccessWordsAndFilterChecksAreShared) {
    EXPECT_EQ(parse_acl_access("readwrite"), acl_access::readwrite);
    EXPECT_EQ(parse_acl_access("deny"), acl_access::deny);
    EXPECT_FALSE(parse_acl_access("all"));
    EXPECT_EQ(to_string(acl_access::write), "write");
    EXPECT_FALSE(acl_filter_problem("home/+/temp"));
    EXPECT_TRUE(acl_filter_problem(""));
    EXPECT_TRUE(acl_filter_problem("home/#/x"));
    EXPECT_TRUE(acl_filter_problem("$share/g/home"));
}

TEST(TopicAcl, PatternsSubstituteUserAndClientId) {
    const topic_acl acl = topic_acl::parse("pattern readwrite users/%u/#\n"
                                           "pattern read devices/%c\n",
                                           "t");
    EXPECT_TRUE(acl.allows_topic(&alice, "c", want::write, "users/alice/notes"));
    EXPECT_FALSE(acl.allows_topic(&alice, "c", want::write, "users/bob/notes"));
    EXPECT_TRUE(acl.allows_topic(&bob, "c", want::read, "users/bob/notes"));
    EXPECT_TRUE(acl.allows_subscribe(&alice, "c", "users/alice/#"));
    EXPECT_FALSE(acl.allows_subscribe(&alice, "c", "users/+/notes"));
    EXPECT_TRUE(acl.allows_topic(&alice, "sensor-1", want::read, "devices/sensor-1"));
    EXPECT_FALSE(acl.allows_topic(&alice, "sensor-1", want::write, "devices/sensor-1"));
    EXPECT_FALSE(acl.allows_topic(&alice, "sensor-2", want::read, "devices/sensor-1"));
    // A %u pattern never applies to an anonymous client; %c does.
    EXPECT_FALSE(acl.allows_topic(nullptr, "c", want::read, "users//notes"));
    EXPECT_TRUE(acl.allows_topic(nullptr, "sensor-1", want::read, "devices/sensor-1"));
    // A value that would widen the pattern (or is missing) leaves it out.
    const std::string wild = "a/#";
    EXPECT_FALSE(acl.allows_topic(&wild, "c", want::read, "users/a/x"));
    EXPECT_FALSE(acl.allows_topic(&alice, "+", want::read, "devices/+"));
    EXPECT_FALSE(acl.allows_topic(&alice, "", want::read, "devices/"));
}

TEST(TopicAcl, TopicLinesBeforeAnyUserAreTheAnonymousBlock) {
    const topic_acl acl = topic_acl::parse("topic read public/#\n"
                                           "user alice\n"
                                           "topic read private/#\n",
                                           "t");
    EXPECT_TRUE(acl.allows_topic(nullptr, "c", want::read, "public/x"));
    EXPECT_FALSE(acl.allows_topic(nullptr, "c", want::write, "public/x"));
    EXPECT_FALSE(acl.allows_topic(nullptr, "c", want::read, "private/x"));
    // The anonymous block is not a default for users.
    EXPECT_FALSE(acl.allows_topic(&alice, "c", want::read, "public/x"));
    EXPECT_TRUE(acl.allows_topic(&alice, "c", want::read, "private/x"));
}

TEST(TopicAcl, FilterCoverage) {
    EXPECT_TRUE(acl_filter_covers("a/#", "a/+/c"));
    EXPECT_TRUE(acl_filter_covers("a/#", "a/#"));
    EXPECT_TRUE(acl_filter_covers("a/#", "a/b"));
    EXPECT_TRUE(acl_filter_covers("a/#", "a"));
    EXPECT_FALSE(acl_filter_covers("a/#", "#"));
    EXPECT_FALSE(acl_filter_covers("a/#", "+/b"));
    EXPECT_TRUE(acl_filter_covers("a/+/c", "a/b/c"));
    EXPECT_TRUE(acl_filter_covers("a/+/c", "a/+/c"));
    EXPECT_FALSE(acl_filter_covers("a/+/c", "a/#"));
    EXPECT_FALSE(acl_filter_covers("a/+", "a/+/c"));
    EXPECT_FALSE(acl_filter_covers("a/b", "a/+"));
    EXPECT_TRUE(acl_filter_covers("#", "#"));
    EXPECT_TRUE(acl_filter_covers("+/+", "x/y"));
    // Wildcards at the first level do not reach $ topics, as in matching.
    EXPECT_FALSE(acl_filter_covers("#", "$SYS/#"));
    EXPECT_TRUE(acl_filter_covers("$SYS/#", "$SYS/broker/+"));
}

TEST(TopicAcl, SubscribeNeedsReadOnACoveringFilter) {
    const topic_acl acl = topic_acl::parse("user alice\n"
                                           "topic read a/#\n"
                                           "topic write w/#\n",
                                           "t");
    EXPECT_TRUE(acl.allows_subscribe(&alice, "c", "a/+/c"));
    EXPECT_FALSE(acl.allows_subscribe(&alice, "c", "#"));
    EXPECT_FALSE(acl.allows_subscribe(&alice, "c", "w/x"));
}

/// A policy over a directory with `rules` installed.
struct policy_fixture {
    chat_directory directory;
    explicit policy_fixture(outside_chat_rules rules) {
        directory.set_outside_rules(std::make_shared<const outside_chat_rules>(std::move(rules)));
    }
};

TEST(AccessPolicyAcl, AnonymousClientsFollowTheAnonymousBlockOutsideChat) {
    outside_chat_rules rules;
    rules.acl = std::make_shared<const topic_acl>(
        topic_acl::parse("topic read public/#\npattern readwrite dev/%c/#\n", "t"));
    policy_fixture fixture(std::move(rules));
    const access_policy anonymous(true, &fixture.directory);
    EXPECT_TRUE(anonymous.may_subscribe("public/#", "c"));
    EXPECT_TRUE(anonymous.may_subscribe("$share/g/public/#", "c"));
    EXPECT_FALSE(anonymous.may_subscribe("#", "c"));
    EXPECT_FALSE(anonymous.may_publish("public/x", "c"));
    EXPECT_TRUE(anonymous.may_receive("public/x", "c"));
    EXPECT_FALSE(anonymous.may_receive("private/x", "c"));
    EXPECT_TRUE(anonymous.may_publish("dev/c/out", "c"));
    EXPECT_FALSE(anonymous.may_publish("dev/c/out", "other"));
    // $SYS publishing stays refused whatever the acl says; chat/ stays closed to anonymous.
    EXPECT_FALSE(anonymous.may_publish("$SYS/x", "c"));
    EXPECT_FALSE(anonymous.may_subscribe("chat/#", "c"));
}

TEST(AccessPolicyAcl, NoAclKeepsUsersOpenAndAnonymousOnlyOnLoopback) {
    outside_chat_rules closed;
    closed.is_anonymous_open = false;
    policy_fixture fixture(closed);
    const access_policy anonymous(true, &fixture.directory);
    EXPECT_FALSE(anonymous.may_publish("home/door"));
    EXPECT_FALSE(anonymous.may_subscribe("home/#"));
    EXPECT_FALSE(anonymous.may_subscribe("#"));
    EXPECT_FALSE(anonymous.may_receive("home/door"));
    const std::string user = "alice";
    const access_policy named(user, fixture.directory);
    EXPECT_TRUE(named.may_publish("home/door"));
    EXPECT_TRUE(named.may_subscribe("#"));
    EXPECT_TRUE(named.may_receive("home/door"));

    policy_fixture open_fixture(outside_chat_rules{});
    const access_policy loopback(true, &open_fixture.directory);
    EXPECT_TRUE(loopback.may_publish("home/door"));
    EXPECT_TRUE(loopback.may_subscribe("#"));
    EXPECT_TRUE(loopback.may_receive("home/door"));
}

TEST(AccessPolicyAcl, ReplacedRulesApplyToTheNextCheck) {
    policy_fixture fixture(outside_chat_rules{});
    const std::string user = "alice";
    const access_policy named(user, fixture.directory);
    EXPECT_TRUE(named.may_receive("home/door"));
    outside_chat_rules rules;
    rules.acl =
        std::make_shared<const topic_acl>(topic_acl::parse("user alice\ntopic read x/#\n", "t"));
    fixture.directory.set_outside_rules(std::make_shared<const outside_chat_rules>(rules));
    EXPECT_FALSE(named.may_receive("home/door"));
    EXPECT_TRUE(named.may_receive("x/y"));
}

} // namespace
} // namespace perch::gateway
