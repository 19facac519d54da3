"""Every user-visible string, in English and Korean. Change wording here, nowhere else.

English is the default and is what the accessible names of UI_CONTRACT.md are made of.
"""

from __future__ import annotations

LANGUAGES = ("en", "ko")

STRINGS: dict[str, tuple[str, str]] = {
    # app
    "app_name": ("FabriX Agent Chat", "FabriX 에이전트 채팅"),
    "demo_mode": (
        "Demo mode: answers come from the built-in FabriX emulator.",
        "Demo mode: 내장 FabriX 에뮬레이터가 답변합니다.",
    ),
    "not_found": ("Not found", "찾을 수 없음"),
    "conversation_not_found": ("Conversation not found.", "대화를 찾을 수 없습니다."),
    "back_to_chat": ("Back to chat", "채팅으로 돌아가기"),
    "language": ("Language", "언어"),
    "toggle_theme": ("Toggle dark theme", "다크 테마 전환"),
    # login / signup
    "username": ("Username", "사용자 이름"),
    "password": ("Password", "비밀번호"),
    "email": ("Email", "이메일"),
    "confirm_password": ("Confirm password", "비밀번호 확인"),
    "invite_key": ("Invite key", "초대 키"),
    "log_in": ("Log in", "로그인"),
    "sign_up": ("Sign up", "가입하기"),
    "create_account": ("Create an account", "계정 만들기"),
    "log_out": ("Log out", "로그아웃"),
    "login_title": ("Log in to FabriX Agent Chat", "FabriX 에이전트 채팅 로그인"),
    "signup_title": ("Create your account", "계정 만들기"),
    "have_account": ("Already have an account?", "이미 계정이 있나요?"),
    "no_account": ("New here?", "처음이신가요?"),
    "bad_credentials": ("Wrong username or password.", "사용자 이름 또는 비밀번호가 올바르지 않습니다."),
    "account_disabled": ("Account is disabled. Ask an administrator.", "비활성화된 계정입니다. 관리자에게 문의하세요."),
    "login_slow_down": (
        "Too many failed attempts. Try again in {seconds} s.",
        "실패가 너무 많습니다. {seconds}초 후 다시 시도하세요.",
    ),
    "fill_all_fields": ("Fill in every field.", "모든 항목을 입력하세요."),
    "username_invalid": (
        "Username: 3–32 characters, letters, digits, dot, dash or underscore.",
        "사용자 이름: 3–32자의 영문, 숫자, 점, 대시, 밑줄만 사용할 수 있습니다.",
    ),
    "email_invalid": ("Enter a valid email address.", "올바른 이메일 주소를 입력하세요."),
    "email_domain": (
        "Sign-up is limited to these email domains: {domains}.",
        "다음 이메일 도메인만 가입할 수 있습니다: {domains}.",
    ),
    "password_too_short": ("Password must be at least 8 characters.", "비밀번호는 8자 이상이어야 합니다."),
    "password_too_long": ("Password must be at most 72 bytes.", "비밀번호는 72바이트 이하여야 합니다."),
    "password_mismatch": ("The passwords do not match.", "비밀번호가 일치하지 않습니다."),
    "invite_key_wrong": ("The invite key is not correct.", "초대 키가 올바르지 않습니다."),
    "username_taken": ("That username is taken.", "이미 사용 중인 사용자 이름입니다."),
    "email_taken": ("An account with that email exists.", "이미 가입된 이메일입니다."),
    "session_expired": ("Your session ended. Log in again.", "세션이 만료되었습니다. 다시 로그인하세요."),
    # sidebar
    "toggle_sidebar": ("Toggle sidebar", "사이드바 전환"),
    "agent": ("Agent", "에이전트"),
    "new_chat": ("New chat", "새 채팅"),
    "search_chats": ("Search chats", "채팅 검색"),
    "delete_chat": ("Delete chat", "채팅 삭제"),
    "rename_chat": ("Rename chat", "채팅 이름 바꾸기"),
    "delete_confirm_title": ("Delete this chat?", "이 채팅을 삭제할까요?"),
    "delete_confirm_text": (
        "“{title}” and all its messages will be deleted.",
        "“{title}”과(와) 모든 메시지가 삭제됩니다.",
    ),
    "delete": ("Delete", "삭제"),
    "cancel": ("Cancel", "취소"),
    "save": ("Save", "저장"),
    "chat_title": ("Chat title", "채팅 제목"),
    "no_chats": ("No conversations yet.", "아직 대화가 없습니다."),
    "no_matches": ("No conversations match.", "일치하는 대화가 없습니다."),
    "today": ("Today", "오늘"),
    "yesterday": ("Yesterday", "어제"),
    "previous_7_days": ("Previous 7 days", "지난 7일"),
    "older": ("Older", "이전"),
    "refresh_agents": ("Reload the list", "목록 새로 고침"),
    "no_agents": ("No agents are available.", "사용할 수 있는 에이전트가 없습니다."),
    # composer and messages
    "message": ("Message", "메시지"),
    "message_placeholder": ("Ask the agent anything…", "에이전트에게 물어보세요…"),
    "attach_file": ("Attach file", "파일 첨부"),
    "send_message": ("Send message", "메시지 보내기"),
    "stop_generating": ("Stop generating", "생성 중지"),
    "remove_file": ("Remove file", "파일 제거"),
    "empty_state": ("How can I help you today?", "무엇을 도와드릴까요?"),
    "edit_message": ("Edit message", "메시지 편집"),
    "edited_message": ("Edited message", "편집한 메시지"),
    "save_and_send": ("Save and send", "저장 후 보내기"),
    "copy_message": ("Copy message", "메시지 복사"),
    "copy_code": ("Copy code", "코드 복사"),
    "regenerate_answer": ("Regenerate answer", "답변 다시 생성"),
    "stopped": ("Stopped", "중지됨"),
    "copied": ("Copied", "복사됨"),
    "dismiss": ("Dismiss", "닫기"),
    "retry": ("Retry", "다시 시도"),
    "waiting_for_capacity": ("Waiting for capacity…", "처리 용량을 기다리는 중…"),
    "you": ("You", "나"),
    "assistant": ("Assistant", "어시스턴트"),
    # errors shown in the chat
    "error_network": (
        "Could not reach FabriX. Check the network and try again.",
        "FabriX에 연결할 수 없습니다. 네트워크를 확인하고 다시 시도하세요.",
    ),
    "error_timeout": (
        "FabriX took too long to answer. Try again.",
        "FabriX 응답 시간이 초과되었습니다. 다시 시도하세요.",
    ),
    "error_auth": (
        "The service is not configured correctly. An administrator has been told.",
        "서비스 설정에 문제가 있습니다. 관리자에게 알렸습니다.",
    ),
    "error_rate_limited": (
        "Server is busy, try again in {seconds} s.",
        "서버가 바쁩니다. {seconds}초 후 다시 시도하세요.",
    ),
    "error_unavailable": (
        "FabriX is unavailable right now. Try again in a moment.",
        "FabriX를 지금 사용할 수 없습니다. 잠시 후 다시 시도하세요.",
    ),
    "error_upstream": ("The agent could not answer: {detail}", "에이전트가 답변하지 못했습니다: {detail}"),
    "error_filtered": (
        "The answer was blocked by the content filter: {detail}",
        "콘텐츠 필터가 답변을 차단했습니다: {detail}",
    ),
    "error_bad_response": ("FabriX sent an answer this app cannot read.", "FabriX 응답을 읽을 수 없습니다."),
    "error_generic": ("Something went wrong. Try again.", "문제가 발생했습니다. 다시 시도하세요."),
    "error_agents": ("Could not load the agents: {detail}", "에이전트 목록을 불러올 수 없습니다: {detail}"),
    "error_saving": ("Your message could not be saved. Try again.", "메시지를 저장하지 못했습니다. 다시 시도하세요."),
    "error_empty_message": ("Type a question first.", "먼저 질문을 입력하세요."),
    "error_message_too_long": (
        "The message is too long (at most {limit} characters).",
        "메시지가 너무 깁니다(최대 {limit}자).",
    ),
    "error_upload_type": (
        "Files of this type cannot be sent. Allowed: {allowed}.",
        "이 형식의 파일은 보낼 수 없습니다. 허용: {allowed}.",
    ),
    "error_upload_size": ("The file is too large (at most {limit} MB).", "파일이 너무 큽니다(최대 {limit}MB)."),
    "error_upload_failed": (
        "The file could not be uploaded. Try again.",
        "파일을 업로드하지 못했습니다. 다시 시도하세요.",
    ),
}


def t(key: str, lang: str = "en", **values: object) -> str:
    """The string `key` in `lang` (English when unknown), with {placeholders} filled in."""
    en, ko = STRINGS[key]
    text = ko if lang == "ko" else en
    return text.format(**values) if values else text


def table(lang: str) -> dict[str, str]:
    """All strings of one language, for the UI state."""
    index = 1 if lang == "ko" else 0
    return {key: pair[index] for key, pair in STRINGS.items()}
