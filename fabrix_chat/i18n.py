"""Every user-visible string, in English and Korean. Change wording here, nowhere else.

English is the default and is what the accessible names of UI_CONTRACT.md are made of.
"""

from __future__ import annotations

from fabrix_chat import outages

LANGUAGES = ("en", "ko")

STRINGS: dict[str, tuple[str, str]] = {
    # app
    "app_name": ("FabriX Agent Chat", "FabriX 에이전트 채팅"),
    "demo_mode": (
        "Demo mode: answers come from the built-in FabriX emulator.",
        "Demo mode: 내장 FabriX 에뮬레이터가 답변합니다.",
    ),
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
    "login_title": ("Welcome back", "다시 오신 것을 환영합니다"),
    "signup_title": ("Create your account", "계정 만들기"),
    "have_account": ("Already have an account?", "이미 계정이 있나요?"),
    "no_account": ("New here?", "처음이신가요?"),
    "bad_credentials": ("Wrong username or password.", "사용자 이름 또는 비밀번호가 올바르지 않습니다."),
    "account_disabled": ("Account is disabled. Ask an administrator.", "비활성화된 계정입니다. 관리자에게 문의하세요."),
    # directory sign-in (LDAP / Active Directory)
    "directory_unavailable": (
        "The company directory cannot be reached right now, so nobody can sign in with it. "
        "Try again in a few minutes; if it lasts, tell an administrator.",
        "지금은 회사 디렉터리에 연결할 수 없어 디렉터리 계정으로 로그인할 수 없습니다. "
        "몇 분 뒤 다시 시도하고, 계속되면 관리자에게 알리세요.",
    ),
    "directory_not_allowed": (
        "Your directory account is not in the group allowed to use this app. Ask an administrator.",
        "디렉터리 계정이 이 앱을 사용할 수 있는 그룹에 속해 있지 않습니다. 관리자에게 문의하세요.",
    ),
    "directory_username_invalid": (
        "Your directory user name cannot be used here (3–32 characters: letters, digits, dot, dash or "
        "underscore). Ask an administrator.",
        "디렉터리 사용자 이름을 여기서 쓸 수 없습니다(3–32자의 영문, 숫자, 점, 대시, 밑줄). 관리자에게 문의하세요.",
    ),
    "directory_no_email": (
        "The directory has no email address for your account. Ask an administrator.",
        "디렉터리에 계정의 이메일 주소가 없습니다. 관리자에게 문의하세요.",
    ),
    "directory_password_elsewhere": (
        "This account signs in with the company directory: its password is changed there, not here.",
        "이 계정은 회사 디렉터리로 로그인합니다. 비밀번호는 여기가 아니라 디렉터리에서 바꿉니다.",
    ),
    "login_slow_down": (
        "Too many failed attempts. Try again in {seconds} s.",
        "실패가 너무 많습니다. {seconds}초 후 다시 시도하세요.",
    ),
    "login_busy": (
        "Many people are signing in right now. Try again in a few seconds.",
        "지금 많은 사람이 로그인하고 있습니다. 몇 초 뒤 다시 시도하세요.",
    ),
    "fill_all_fields": ("Fill in every field.", "모든 항목을 입력하세요."),
    "field_too_long": ("One of the fields is too long.", "입력한 항목 중 하나가 너무 깁니다."),
    "signup_closed": (
        "Sign-up is closed here: ask an administrator for an account.",
        "이곳에서는 가입할 수 없습니다. 관리자에게 계정을 요청하세요.",
    ),
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
    # --- accounts (more) ---
    "choose_password_title": ("Choose your own password", "새 비밀번호 정하기"),
    "choose_password_notice": (
        "Your password was set by an administrator. Choose your own to continue.",
        "관리자가 정한 비밀번호입니다. 계속하려면 새 비밀번호를 정하세요.",
    ),
    "new_password": ("New password", "새 비밀번호"),
    "confirm_new_password": ("Confirm new password", "새 비밀번호 확인"),
    "set_new_password": ("Set new password", "새 비밀번호 저장"),
    "password_not_new": (
        "Choose a password different from the one you were given.",
        "받은 비밀번호와 다른 비밀번호를 정하세요.",
    ),
    "signin_expired": (
        "That sign-in took too long or was already used. Log in again.",
        "로그인 처리 시간이 지났거나 이미 사용되었습니다. 다시 로그인하세요.",
    ),
    "session_ended_notice": (
        "Your session ended (idle too long, or signed out by an administrator). Log in again.",
        "세션이 종료되었습니다(오랫동안 사용하지 않았거나 관리자가 로그아웃했습니다). 다시 로그인하세요.",
    ),
    "main_navigation": ("Conversations", "대화 목록"),
    # --- end accounts (more) ---
    # sidebar
    "toggle_sidebar": ("Toggle sidebar", "사이드바 전환"),
    "agent": ("Agent", "에이전트"),
    "new_chat": ("New chat", "새 채팅"),
    "search_chats": ("Search chats", "채팅 검색"),
    "delete_chat": ("Delete chat", "채팅 삭제"),
    "rename_chat": ("Rename chat", "채팅 이름 바꾸기"),
    "delete_confirm_title": ("Delete this chat?", "이 채팅을 삭제할까요?"),
    "delete": ("Delete", "삭제"),
    "cancel": ("Cancel", "취소"),
    "save": ("Save", "저장"),
    "chat_title": ("Chat title", "채팅 제목"),
    "no_chats": ("No conversations yet.", "아직 대화가 없습니다."),
    "no_matches": ("No conversations match.", "일치하는 대화가 없습니다."),
    "pinned": ("Pinned", "고정됨"),
    "good_answer": ("Good answer", "좋은 답변"),
    "bad_answer": ("Bad answer", "나쁜 답변"),
    "feedback_comment": ("Comment", "의견"),
    "feedback_comment_hint": ("What was wrong? (optional)", "무엇이 잘못되었나요? (선택)"),
    "send_feedback": ("Send feedback", "의견 보내기"),
    "keyboard_shortcuts": ("Keyboard shortcuts", "단축키"),
    "close": ("Close", "닫기"),
    "shortcut_new_chat": ("New chat", "새 채팅"),
    "shortcut_search": ("Search chats", "채팅 검색"),
    "shortcut_composer": ("Type a message", "메시지 입력으로 이동"),
    "shortcut_copy_answer": ("Copy the last answer", "마지막 답변 복사"),
    "shortcut_stop": ("Stop the answer (or close a dialog)", "답변 중지(또는 대화상자 닫기)"),
    "shortcut_help": ("These shortcuts (outside a text field)", "이 단축키 목록(입력란 밖에서)"),
    "export_chat": ("Export chat", "채팅 내보내기"),
    "export_markdown": ("Markdown", "Markdown"),
    "export_print": ("Print", "인쇄"),
    "export_started": ("Started", "시작"),
    "export_updated": ("Last activity", "마지막 활동"),
    "export_attached": ("Attached file", "첨부 파일"),
    "export_no_text": ("no text", "내용 없음"),
    "export_failed": ("The answer did not finish", "답변이 끝나지 않았습니다"),
    "pin_chat": ("Pin chat", "채팅 고정"),
    "unpin_chat": ("Unpin chat", "고정 해제"),
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
    "answer_image": ("Image:", "이미지:"),
    "code_block": ("Code block", "코드 블록"),
    "regenerate_answer": ("Regenerate answer", "답변 다시 생성"),
    "share_chat": ("Share chat", "대화 공유"),
    "copy_link": ("Copy link", "링크 복사"),
    "stop_sharing": ("Stop sharing", "공유 중지"),
    "share_link": ("Share link", "공유 링크"),
    "share_explain": (
        "Anyone signed in to this service who has the link can read a copy of this chat as it is now. "
        "Later messages are added only when you copy the link again.",
        "링크가 있는 이 서비스의 로그인 사용자는 지금 상태의 대화 사본을 읽을 수 있습니다. "
        "이후 메시지는 링크를 다시 복사할 때만 추가됩니다.",
    ),
    "share_copied": ("Link copied.", "링크를 복사했습니다."),
    "share_no_longer": ("This chat is no longer shared.", "이 대화는 더 이상 공유되지 않습니다."),
    "share_too_long": ("This chat is too long to share.", "이 대화는 너무 길어서 공유할 수 없습니다."),
    "continue_in_my_chats": ("Continue in my chats", "내 대화에서 계속하기"),
    "shared_chat": ("Shared chat", "공유된 대화"),
    "shared_on": ("Shared on", "공유 날짜:"),
    "shared_read_only": (
        "A read-only copy. Continue in my chats makes it a chat of your own.",
        "읽기 전용 사본입니다. '내 대화에서 계속하기'를 누르면 내 대화가 됩니다.",
    ),
    "shared_badge": ("Shared", "공유됨"),
    "previous_version": ("Previous version", "이전 버전"),
    "next_version": ("Next version", "다음 버전"),
    "versions": ("Versions", "버전"),
    "stopped": ("Stopped", "중지됨"),
    "answer_in_progress": ("Still being written in another window…", "다른 창에서 아직 작성 중…"),
    "history_left_out": (
        "The {count} oldest turns of this chat were not sent with this question, to stay within the usage budget.",
        "사용량 한도를 넘지 않도록 이 대화의 오래된 {count}개 턴은 이번 질문과 함께 보내지 않았습니다.",
    ),
    "show_earlier_messages": ("Show earlier messages", "이전 메시지 보기"),
    "show_more": ("Show more", "더 보기"),
    "error_stop_failed": (
        "The answer could not be stopped. Try again.",
        "답변을 중지하지 못했습니다. 다시 시도하세요.",
    ),
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
    "error_upstream": (
        "The agent could not answer this time. Try again.",
        "에이전트가 이번에는 답변하지 못했습니다. 다시 시도하세요.",
    ),
    "error_connection_lost": (
        "The connection to FabriX was lost during the answer. What arrived is kept.",
        "답변 중 FabriX 연결이 끊어졌습니다. 받은 내용은 남아 있습니다.",
    ),
    "error_filtered": (
        "The answer was blocked by the content filter: {detail}",
        "콘텐츠 필터가 답변을 차단했습니다: {detail}",
    ),
    "error_bad_response": ("FabriX sent an answer this app cannot read.", "FabriX 응답을 읽을 수 없습니다."),
    "error_generic": ("Something went wrong. Try again.", "문제가 발생했습니다. 다시 시도하세요."),
    "error_service_down": (
        "The server cannot reach its database or session store right now. Try again in a moment.",
        "서버가 지금 데이터베이스나 세션 저장소에 연결할 수 없습니다. 잠시 후 다시 시도하세요.",
    ),
    "error_disk_full": (
        "The server's disk is full, so nothing new can be saved. Ask an administrator.",
        "서버 디스크가 가득 차서 새 내용을 저장할 수 없습니다. 관리자에게 문의하세요.",
    ),
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
    # --- chat experience (more) ---
    "file_default_question": ("Describe this file.", "이 파일을 설명해 주세요."),
    "reading_file": ("The agent is reading the file…", "에이전트가 파일을 읽는 중…"),
    "saving_answer": (
        "Saving the answer… the database is not answering yet.",
        "답변을 저장하는 중… 데이터베이스가 아직 응답하지 않습니다.",
    ),
    "uploading_file": ("Uploading…", "업로드 중…"),
    "upload_progress": ("Upload progress", "업로드 진행률"),
    "attached_file": ("Attached file", "첨부 파일"),
    "error_upload_again": (
        "The file was not taken because this page had to be loaded again. Attach it again.",
        "이 페이지를 다시 불러와야 해서 파일을 받지 못했습니다. 다시 첨부하세요.",
    ),
    "error_upload_empty": ("The file is empty.", "빈 파일입니다."),
    "error_upload_count": ("Attach one file at a time.", "파일은 한 번에 하나만 첨부할 수 있습니다."),
    "error_upload_pending": ("Wait until the file has uploaded.", "파일 업로드가 끝날 때까지 기다리세요."),
    "error_upload_busy": (
        "Another file of yours is still uploading. Wait for it, then try again.",
        "다른 파일이 아직 업로드 중입니다. 끝난 뒤 다시 시도하세요.",
    ),
    "error_upload_user_quota": (
        "Your stored files have reached your limit of {limit} MB. Send or remove an attached file, or wait a day.",
        "보관된 파일이 한도({limit}MB)에 도달했습니다. 첨부한 파일을 보내거나 지우거나, 하루 뒤에 다시 시도하세요.",
    ),
    "error_upload_total_quota": (
        "The server's space for files is full. Try again later, or ask an administrator.",
        "서버의 파일 저장 공간이 가득 찼습니다. 나중에 다시 시도하거나 관리자에게 문의하세요.",
    ),
    "error_upload_disk_full": (
        "The server is almost out of disk space, so the file was not taken. Ask an administrator.",
        "서버의 디스크 공간이 거의 없어 파일을 받지 않았습니다. 관리자에게 문의하세요.",
    ),
    # --- daily quotas (services/quota.py; the Users tab's limits) ---
    "quota_questions_used": (
        "You have used your {limit} questions for today. The limit resets at {time}.",
        "오늘 쓸 수 있는 질문 {limit}개를 모두 썼습니다. 한도는 {time}에 초기화됩니다.",
    ),
    "quota_tokens_used": (
        "This question would go over your daily limit of {limit} estimated tokens. The limit resets at {time}.",
        "이 질문은 하루 한도인 예상 토큰 {limit}개를 넘습니다. 한도는 {time}에 초기화됩니다.",
    ),
    "quota_question_left_one": ("1 question left today", "오늘 남은 질문 1개"),
    "quota_questions_left": ("{count} questions left today", "오늘 남은 질문 {count}개"),
    "quota_questions_none": (
        "No questions left today (the limit resets at {time})",
        "오늘 남은 질문이 없습니다({time}에 초기화)",
    ),
    "quota_tokens_left": ("About {count} tokens left today", "오늘 남은 토큰 약 {count}개"),
    "quota_tokens_none": (
        "No tokens left today (the limit resets at {time})",
        "오늘 남은 토큰이 없습니다({time}에 초기화)",
    ),
    "admin_col_limits": ("Daily limits", "일일 한도"),
    "admin_question_limit": ("Daily question limit", "일일 질문 한도"),
    "admin_token_limit": ("Daily token limit", "일일 토큰 한도"),
    "admin_limit_placeholder": ("Default ({limit})", "기본값({limit})"),
    "admin_limit_none": ("no limit", "제한 없음"),
    "admin_limit_default": ("the default ({limit})", "기본값({limit})"),
    "admin_limit_invalid": (
        "A daily limit is a whole number from 0 (no limit) to {max}, or empty for the default.",
        "일일 한도는 0(제한 없음)부터 {max}까지의 정수이거나, 기본값을 쓰려면 비워 둡니다.",
    ),
    "admin_question_limit_saved": (
        "Daily question limit of {username}: {limit}.",
        "{username}의 일일 질문 한도: {limit}.",
    ),
    "admin_token_limit_saved": (
        "Daily token limit of {username}: {limit}.",
        "{username}의 일일 토큰 한도: {limit}.",
    ),
    "error_file_gone": (
        "The file of that question is no longer kept. Attach it again, then try again.",
        "그 질문의 파일은 더 이상 보관되어 있지 않습니다. 파일을 다시 첨부한 뒤 다시 시도하세요.",
    ),
    "error_chat_changed": (
        "This chat was changed in another window. It is shown as it is now; your message is back in the box.",
        "다른 창에서 이 대화가 바뀌었습니다. 지금 상태로 다시 보여 드리며, 보내려던 메시지는 입력창에 돌려놓았습니다.",
    ),
    "error_answer_running": (
        "An answer is still being written. Stop it or wait until it ends.",
        "아직 답변을 작성하는 중입니다. 중지하거나 끝날 때까지 기다리세요.",
    ),
    # --- prompt library (the composer's Prompts, Save as prompt, the admin's Prompts tab) ---
    "prompts": ("Prompts", "프롬프트"),
    "search_prompts": ("Search prompts", "프롬프트 검색"),
    "prompts_hint": (
        "Choose a prompt to put its text in the message box. Text in double braces, like {{topic}}, is selected "
        "for you to type over.",
        "프롬프트를 고르면 그 내용이 메시지 입력란에 들어갑니다. {{topic}}처럼 이중 중괄호로 묶인 부분은 바로 "
        "입력할 수 있게 선택됩니다.",
    ),
    "no_prompts": (
        "No prompts yet. Keep one of your messages with Save as prompt.",
        "아직 프롬프트가 없습니다. 내 메시지에서 ‘프롬프트로 저장’을 눌러 보관하세요.",
    ),
    "no_prompt_matches": ("No prompts match.", "일치하는 프롬프트가 없습니다."),
    "prompt_published": ("For everyone", "모두에게 공개"),
    "delete_prompt": ("Delete prompt", "프롬프트 삭제"),
    "save_as_prompt": ("Save as prompt", "프롬프트로 저장"),
    "save_prompt": ("Save prompt", "프롬프트 저장"),
    "prompt_title": ("Title", "제목"),
    "prompt_text": ("Prompt", "프롬프트"),
    "prompt_not_found": ("Prompt not found.", "프롬프트를 찾을 수 없습니다."),
    "message_not_found": ("Message not found.", "메시지를 찾을 수 없습니다."),
    "prompt_empty": ("The prompt is empty.", "프롬프트가 비어 있습니다."),
    "prompt_too_long": (
        "A prompt can hold at most {limit} characters.",
        "프롬프트는 최대 {limit}자까지 저장할 수 있습니다.",
    ),
    "prompt_title_too_long": (
        "A prompt's title can be at most {limit} characters.",
        "프롬프트 제목은 최대 {limit}자입니다.",
    ),
    "prompt_limit": (
        "You already keep {limit} prompts, the most allowed. Delete one first.",
        "이미 최대 개수인 {limit}개의 프롬프트를 보관하고 있습니다. 먼저 하나를 삭제하세요.",
    ),
    "prompt_published_limit": (
        "{limit} prompts are published already, the most allowed. Delete one first.",
        "이미 최대 개수인 {limit}개의 프롬프트가 공개되어 있습니다. 먼저 하나를 삭제하세요.",
    ),
    "tab_prompts": ("Prompts", "프롬프트"),
    "admin_publish_title": ("Publish a prompt for everyone", "모두를 위한 프롬프트 공개"),
    "admin_publish_note": (
        "Published prompts are in every user's Prompts list. An empty title becomes the prompt's first words.",
        "공개한 프롬프트는 모든 사용자의 프롬프트 목록에 나타납니다. 제목을 비워 두면 프롬프트의 첫 단어들이 "
        "제목이 됩니다.",
    ),
    "admin_publish_prompt": ("Publish prompt", "프롬프트 공개"),
    "admin_published_prompts": ("Published prompts", "공개된 프롬프트"),
    "admin_no_prompts": ("No prompts published yet.", "아직 공개된 프롬프트가 없습니다."),
    "admin_prompt_published": ("“{title}” is published for everyone.", "“{title}”을(를) 모두에게 공개했습니다."),
    "admin_prompt_deleted": ("“{title}” was deleted.", "“{title}”을(를) 삭제했습니다."),
    # --- personal invitations, announcements, the audit trail (issue 13) ---
    "signup_directory": (
        "There is no sign-up here: sign in with your company (directory) account.",
        "이 서비스에는 가입이 없습니다. 회사(디렉터리) 계정으로 로그인하세요.",
    ),
    "invitation_other_email": (
        "This invitation is for another email address.",
        "이 초대는 다른 이메일 주소용입니다.",
    ),
    "invitation_used": (
        "This invitation has just been used, revoked or has expired.",
        "이 초대는 방금 사용되었거나 취소 또는 만료되었습니다.",
    ),
    "tab_invitations": ("Invitations", "초대"),
    "admin_invitation_new": ("New invitation", "새 초대"),
    "admin_invitation_note": (
        "A personal invitation lets one person sign up with this email address, once, until it expires. "
        "They type its code in the Invite key field.",
        "개인 초대로 한 사람이 이 이메일 주소로 만료 전에 한 번 가입할 수 있습니다. 코드는 초대 키 칸에 입력합니다.",
    ),
    "admin_valid_days": ("Valid for days", "유효 기간(일)"),
    "admin_create_invitation": ("Create invitation", "초대 만들기"),
    "admin_invitation_code_for": ("Invitation code for", "초대 코드 대상:"),
    "admin_invitation_code_once": (
        "Send it to them now: it is shown only this once (only its hash is stored).",
        "지금 전달하세요. 이번 한 번만 보입니다(해시만 저장됩니다).",
    ),
    "admin_copy_code": ("Copy code", "코드 복사"),
    "admin_invitation_created": (
        "Invitation for {email} created, valid until {when}.",
        "{email} 초대를 만들었습니다. {when}까지 유효합니다.",
    ),
    "admin_invitation_days": ("Valid for days must be from 1 to {limit}.", "유효 기간은 1~{limit}일이어야 합니다."),
    "admin_invitation_not_open": ("That invitation is no longer open.", "이미 사용되었거나 닫힌 초대입니다."),
    "admin_invitation_revoked": ("The invitation for {email} was revoked.", "{email} 초대를 취소했습니다."),
    "admin_invitation_open": ("Open", "열림"),
    "admin_invitation_used": ("Used", "사용됨"),
    "admin_invitation_expired": ("Expired", "만료됨"),
    "admin_invitation_revoked_state": ("Revoked", "취소됨"),
    "admin_invitation_used_by": ("by {username}, {when}", "{username}, {when}"),
    "admin_invitation_until": ("until {when}", "{when}까지"),
    "admin_no_invitations": ("No invitations yet.", "아직 초대가 없습니다."),
    "admin_revoke": ("Revoke", "취소"),
    "admin_col_email": ("Email", "이메일"),
    "admin_col_state": ("State", "상태"),
    "admin_col_detail": ("Details", "자세히"),
    "admin_col_created": ("Created", "만든 시각"),
    "tab_announcements": ("Announcements", "공지"),
    "announcement": ("Announcement", "공지"),
    "announcement_level": ("Level", "수준"),
    "announcement_level_info": ("Info", "안내"),
    "announcement_level_warning": ("Warning", "경고"),
    "announcement_ends_at": ("Ends at", "종료 시각"),
    "announcement_no_end": ("No end", "종료 없음"),
    "announcement_ended": ("ended", "종료됨"),
    "announcement_new": ("New announcement", "새 공지"),
    "announcement_note": (
        "Shown at the top of every chat page until it ends or each user dismisses it. Markdown works; "
        "HTML is shown as text. The end time is the server's time.",
        "종료되거나 사용자가 닫을 때까지 모든 채팅 페이지 위에 보입니다. 마크다운을 쓸 수 있고 HTML은 글자로 "
        "보입니다. 종료 시각은 서버 시간입니다.",
    ),
    "post_announcement": ("Post announcement", "공지 게시"),
    "remove_announcement": ("Remove announcement", "공지 삭제"),
    "announcement_none": ("No announcements.", "공지가 없습니다."),
    "announcement_posted": ("The announcement is posted.", "공지를 게시했습니다."),
    "announcement_removed": ("The announcement was removed.", "공지를 삭제했습니다."),
    "announcement_not_found": ("That announcement no longer exists.", "이미 없는 공지입니다."),
    "announcement_empty": ("Write the announcement first.", "공지 내용을 입력하세요."),
    "announcement_too_long": (
        "An announcement can have at most {limit} characters.",
        "공지는 최대 {limit}자까지 쓸 수 있습니다.",
    ),
    "announcement_level_bad": ("Choose info or warning.", "안내 또는 경고를 고르세요."),
    "announcement_ends_in_past": ("The end time has already passed.", "종료 시각이 이미 지났습니다."),
    "announcement_ends_at_bad": ("Ends at is not a date and time.", "종료 시각이 올바른 날짜와 시간이 아닙니다."),
    "announcement_too_many": (
        "At most {limit} announcements can be live at once: remove one first.",
        "동시에 게시할 수 있는 공지는 최대 {limit}개입니다. 먼저 하나를 삭제하세요.",
    ),
    "tab_audit": ("Audit", "감사"),
    "audit_filter_user": ("Filter by user", "사용자로 거르기"),
    "audit_filter_action": ("Filter by action", "작업으로 거르기"),
    "audit_from": ("From", "시작일"),
    "audit_to": ("To", "종료일"),
    "audit_apply": ("Apply filters", "필터 적용"),
    "export_csv": ("Export CSV", "CSV 내보내기"),
    "audit_more": (
        "Only the newest 300 records are shown; Export CSV has every one that matches.",
        "최근 300건만 보입니다. CSV 내보내기에는 조건에 맞는 모든 기록이 담깁니다.",
    ),
    "audit_col_actor": ("Who", "누가"),
    "audit_col_action": ("Action", "작업"),
    "audit_col_target": ("On", "대상"),
    "audit_col_client": ("Client address", "접속 주소"),
    "audit_col_detail": ("Details", "자세히"),
    "usage_export_title": ("Totals per day, user and agent", "일, 사용자, 에이전트별 합계"),
    "usage_export_range": (
        "Choose a range of at most {days} days, From before To.",
        "시작일이 종료일보다 앞서는 최대 {days}일 범위를 고르세요.",
    ),
    # --- admin ---
    "admin_link": ("Admin", "관리"),
    "admin_title": ("Administration", "관리"),
    "tab_users": ("Users", "사용자"),
    "tab_conversations": ("Conversations", "대화"),
    "tab_usage": ("Usage", "사용량"),
    "tab_logs": ("Logs", "로그"),
    "tab_maintenance": ("Maintenance", "유지 관리"),
    "tab_settings": ("Settings", "설정"),
    "admin_close": ("Close", "닫기"),
    "admin_refresh": ("Refresh", "새로 고침"),
    "admin_working": ("Working…", "처리 중…"),
    "admin_cannot_undo": ("This cannot be undone.", "되돌릴 수 없습니다."),
    "admin_col_actions": ("Actions", "작업"),
    "admin_col_when": ("When", "시각"),
    "admin_col_good": ("Good", "좋음"),
    "admin_col_bad": ("Bad", "나쁨"),
    "admin_feedback": ("Feedback", "피드백"),
    "admin_feedback_per_agent": (
        "Good and bad answers per agent (last 30 days)",
        "에이전트별 좋은 답변과 나쁜 답변(최근 30일)",
    ),
    "admin_feedback_comments": ("Recent comments on bad answers", "나쁜 답변에 남긴 최근 의견"),
    "admin_no_feedback": ("No feedback yet.", "아직 피드백이 없습니다."),
    # admin: users
    "admin_search_users": ("Search users", "사용자 검색"),
    "admin_no_users": ("No users match.", "일치하는 사용자가 없습니다."),
    "admin_col_role": ("Role", "역할"),
    "admin_col_status": ("Status", "상태"),
    "admin_col_last_login": ("Last log-in", "마지막 로그인"),
    "admin_role_admin": ("Administrator", "관리자"),
    "admin_role_user": ("User", "사용자"),
    "admin_status_active": ("Active", "활성"),
    "admin_status_disabled": ("Disabled", "비활성"),
    "admin_disable": ("Disable", "비활성화"),
    "admin_enable": ("Enable", "활성화"),
    "admin_make_admin": ("Make admin", "관리자로 지정"),
    "admin_remove_admin": ("Remove admin", "관리자 해제"),
    "admin_reset_password": ("Reset password", "비밀번호 재설정"),
    "admin_delete_user": ("Delete user", "사용자 삭제"),
    "admin_invite_guessing": (
        "wrong invite keys in the last hour: sign-up is now slowed for everyone. If these are not your own "
        "people mistyping, someone is guessing: change [auth] admin_signup_key.",
        "개의 잘못된 초대 키가 지난 한 시간 동안 입력되어 모든 가입이 느려졌습니다. 직원의 오타가 아니라면 누군가 "
        "추측하고 있는 것이니 [auth] admin_signup_key를 바꾸세요.",
    ),
    "admin_change_email": ("Change email", "이메일 변경"),
    "admin_save_email": ("Save email", "이메일 저장"),
    "admin_email_note": (
        "FabriX is told this address as the user's identity. Sign-up does not verify it: correct it here.",
        "FabriX에는 이 주소가 사용자의 신원으로 전달됩니다. 가입 때 확인하지 않으므로 여기서 바로잡으세요.",
    ),
    "admin_email_changed": (
        "The email of {username} is now {email}.",
        "{username}의 이메일이 {email}(으)로 바뀌었습니다.",
    ),
    "admin_create_user_title": ("Create a user", "새 사용자"),
    "admin_is_admin_label": ("Administrator", "관리자"),
    "admin_create_user_button": ("Create user", "사용자 만들기"),
    "admin_user_created": ("User {username} was created.", "사용자 {username}을(를) 만들었습니다."),
    "admin_user_missing": ("That user no longer exists.", "해당 사용자가 더 이상 없습니다."),
    "admin_cannot_disable_self": ("You cannot disable your own account.", "자신의 계정은 비활성화할 수 없습니다."),
    "admin_cannot_demote_self": (
        "You cannot remove your own administrator rights. Ask another administrator.",
        "자신의 관리자 권한은 해제할 수 없습니다. 다른 관리자에게 요청하세요.",
    ),
    "admin_cannot_delete_self": ("You cannot delete your own account.", "자신의 계정은 삭제할 수 없습니다."),
    "admin_user_disabled": (
        "{username} is disabled and was signed out everywhere.",
        "{username}을(를) 비활성화하고 모든 세션에서 로그아웃했습니다.",
    ),
    "admin_user_enabled": ("{username} is enabled.", "{username}을(를) 활성화했습니다."),
    "admin_user_promoted": ("{username} is now an administrator.", "{username}은(는) 이제 관리자입니다."),
    "admin_user_demoted": (
        "{username} is no longer an administrator and was signed out.",
        "{username}의 관리자 권한을 해제하고 로그아웃했습니다.",
    ),
    "admin_reset_note": (
        "Type a new password, or generate one. The user's open sessions end.",
        "새 비밀번호를 입력하거나 생성하세요. 사용자의 열린 세션은 종료됩니다.",
    ),
    "admin_new_password": ("New password", "새 비밀번호"),
    "admin_set_password": ("Set password", "비밀번호 설정"),
    "admin_generate_password": ("Generate password", "비밀번호 생성"),
    "admin_generated_note": (
        "The new password, shown only this once. Give it to the user in person or by phone:",
        "새 비밀번호이며 지금 한 번만 표시됩니다. 사용자에게 직접 또는 전화로 전달하세요:",
    ),
    "admin_password_set": (
        "The password of {username} was changed; their sessions ended.",
        "{username}의 비밀번호를 변경했고 세션을 종료했습니다.",
    ),
    "admin_delete_user_title": ("Delete this user?", "이 사용자를 삭제할까요?"),
    "admin_delete_user_text": (
        "{username} will be deleted with {conversations} conversation(s) and {messages} message(s). "
        "This cannot be undone.",
        "{username}과(와) 대화 {conversations}개, 메시지 {messages}개가 삭제됩니다. 되돌릴 수 없습니다.",
    ),
    "admin_user_deleted": (
        "{username} was deleted with {conversations} conversation(s) and {messages} message(s).",
        "{username}과(와) 대화 {conversations}개, 메시지 {messages}개를 삭제했습니다.",
    ),
    # admin: conversations
    "admin_filter_user": ("Filter by user", "사용자별 보기"),
    "admin_all_users": ("All users", "모든 사용자"),
    "admin_search_messages": ("Search messages", "메시지 검색"),
    "admin_search_messages_hint": ("Text in a title or message", "제목 또는 메시지의 텍스트"),
    "admin_col_title": ("Title", "제목"),
    "admin_col_user": ("User", "사용자"),
    "admin_col_updated": ("Last activity", "마지막 활동"),
    "admin_col_shared": ("Shared", "공유 시각"),
    "admin_shared_links": ("Shared links", "공유 링크"),
    "admin_no_shares": ("No chat is shared.", "공유된 대화가 없습니다."),
    "admin_share_stopped": ("“{title}” is no longer shared.", "“{title}”의 공유를 중지했습니다."),
    "admin_col_messages": ("Messages", "메시지"),
    "admin_open": ("Open", "열기"),
    "admin_delete_conversation": ("Delete conversation", "대화 삭제"),
    "admin_delete_conversation_title": ("Delete this conversation?", "이 대화를 삭제할까요?"),
    "admin_conversation_of": ("Read-only. Conversation of", "읽기 전용. 대화 소유자:"),
    "admin_conversation_deleted": ("“{title}” was deleted.", "“{title}”을(를) 삭제했습니다."),
    # admin: usage
    "admin_rate_limit": ("Rate limit, current minute", "요청 한도(현재 1분)"),
    "admin_rpm": ("Requests per minute", "분당 요청"),
    "admin_tpm": ("Tokens per minute", "분당 토큰"),
    "admin_remaining": ("remaining", "남음"),
    "admin_current_wait": ("Current wait", "현재 대기 시간"),
    "admin_waiting": ("Requests waiting", "대기 중인 요청"),
    "admin_limiter_backend": ("Counted in", "집계 위치"),
    "admin_updated_at": ("Updated", "갱신 시각"),
    "admin_window_users": ("Users in this minute", "이번 1분간 사용자"),
    "admin_col_tokens": ("Tokens", "토큰"),
    "admin_requests_per_day": ("Requests per day", "일별 요청 수"),
    "admin_last_days": (
        "Totals of the last 30 days; tokens are estimates.",
        "최근 30일 합계이며 토큰 수는 추정치입니다.",
    ),
    "admin_usage_per_user": ("Usage per user", "사용자별 사용량"),
    "admin_usage_per_agent": ("Usage per agent", "에이전트별 사용량"),
    "admin_usage_per_day": ("Usage per day", "일별 사용량"),
    "admin_col_day": ("Day", "날짜"),
    "admin_col_requests": ("Requests", "요청"),
    "admin_col_tokens_in": ("Tokens in", "입력 토큰"),
    "admin_col_tokens_out": ("Tokens out", "출력 토큰"),
    "admin_col_errors": ("Errors", "오류"),
    "admin_col_latency": ("Average ms", "평균 ms"),
    "admin_no_usage": ("No usage recorded in this period.", "이 기간에 기록된 사용량이 없습니다."),
    # admin: logs
    "admin_level": ("Level", "수준"),
    "admin_log_note": ("The last 200 records, newest first, from", "최근 200개 기록(최신순), 파일:"),
    "admin_no_logs": ("No log records at this level.", "이 수준의 로그 기록이 없습니다."),
    "admin_col_time": ("Time", "시각"),
    "admin_col_logger": ("Source", "출처"),
    "admin_col_message": ("Message", "메시지"),
    # admin: maintenance
    "admin_database": ("Database", "데이터베이스"),
    "admin_backup_title": ("Backup", "백업"),
    "admin_backup_note": (
        "A consistent copy of the live database in data_dir/backups; users can keep working meanwhile.",
        "실행 중인 데이터베이스의 일관된 복사본을 data_dir/backups에 만듭니다. 사용자는 계속 작업할 수 있습니다.",
    ),
    "admin_back_up_now": ("Back up now", "지금 백업"),
    "admin_backup_done": ("Backup created: {name} ({size}).", "백업을 만들었습니다: {name} ({size})."),
    "admin_backups_list": ("Recent backups", "최근 백업"),
    "admin_no_backups": ("No backups yet.", "아직 백업이 없습니다."),
    "admin_col_file": ("File", "파일"),
    "admin_col_size": ("Size", "크기"),
    "admin_col_modified": ("Made", "만든 시각"),
    "admin_health_title": ("Integrity and size", "무결성과 크기"),
    "admin_check_integrity": ("Check integrity", "무결성 검사"),
    "admin_check_ok": ("Integrity check: ok.", "무결성 검사: 정상."),
    "admin_check_failed": (
        "Integrity check found problems: {problems}",
        "무결성 검사에서 문제를 찾았습니다: {problems}",
    ),
    "admin_optimize": ("Optimize database", "데이터베이스 최적화"),
    "admin_optimize_done": (
        "Optimized: {before} before, {after} after ({seconds} s).",
        "최적화 완료: 이전 {before}, 이후 {after} ({seconds}초).",
    ),
    "admin_optimize_note": (
        "Optimizing rewrites the whole database file and makes writers wait: run it at a quiet time.",
        "최적화는 데이터베이스 파일 전체를 다시 쓰며 그동안 쓰기가 대기합니다. 한가한 시간에 실행하세요.",
    ),
    "admin_cleanup_title": ("Old conversations", "오래된 대화"),
    "admin_older_than": ("Older than (days)", "기준 기간(일)"),
    "admin_preview_cleanup": ("Preview cleanup", "정리 미리 보기"),
    "admin_delete_old": ("Delete old conversations", "오래된 대화 삭제"),
    "admin_cleanup_preview": (
        "No activity for {days} days: {conversations} conversation(s) with {messages} message(s) would be deleted.",
        "{days}일 동안 활동이 없는 대화 {conversations}개(메시지 {messages}개)가 삭제됩니다.",
    ),
    "admin_cleanup_done": (
        "Deleted {conversations} conversation(s) with {messages} message(s) older than {days} days.",
        "{days}일이 지난 대화 {conversations}개(메시지 {messages}개)를 삭제했습니다.",
    ),
    "admin_cleanup_confirm_title": ("Delete these conversations?", "이 대화들을 삭제할까요?"),
    "admin_cleanup_days_invalid": (
        "Enter a whole number of days from 1 to {limit}.",
        "1에서 {limit} 사이의 일 수를 입력하세요.",
    ),
    "admin_cleanup_preview_first": (
        "Preview the cleanup for this number of days first.",
        "먼저 이 일 수로 정리 미리 보기를 실행하세요.",
    ),
    # admin: settings
    "admin_settings_note": (
        "The configuration in effect (secrets.toml and defaults); secrets are masked. Change it in secrets.toml "
        "and restart the app.",
        "현재 적용 중인 설정(secrets.toml과 기본값)이며 비밀 값은 가려져 있습니다. secrets.toml을 고친 뒤 앱을 다시 시작하세요.",
    ),
    "admin_col_setting": ("Setting", "설정"),
    "admin_col_value": ("Value", "값"),
    # --- maintenance (the admin page and `manage`) ---
    "maint_app_running": (
        "The app is running (it holds {path}). Stop it first (Ctrl+C, `systemctl stop`, or end the Windows task), "
        "then restore: a restore under a running app would lose what it writes.",
        "앱이 실행 중입니다({path}를 사용 중). 먼저 앱을 멈추세요(Ctrl+C, `systemctl stop`, 또는 Windows 작업 끝내기). "
        "실행 중에 복원하면 앱이 쓰는 내용을 잃습니다.",
    ),
    "maint_not_sqlite": (
        "The database is PostgreSQL, not a SQLite file.",
        "데이터베이스가 SQLite 파일이 아니라 PostgreSQL입니다.",
    ),
    "maint_in_memory": (
        "The database is in memory: there is no file to work on.",
        "데이터베이스가 메모리에 있어 작업할 파일이 없습니다.",
    ),
    "maint_no_migrations": (
        "No migrations found in {folder}: the installation is incomplete.",
        "{folder}에 마이그레이션이 없습니다. 설치가 완전하지 않습니다.",
    ),
    "maint_migrate_failed": ("Migrating {database} failed: {error}", "{database} 마이그레이션에 실패했습니다: {error}"),
    "maint_backup_postgres": (
        "Backup here is for the SQLite database. For PostgreSQL use its own tools, e.g. "
        "`pg_dump --format=custom --file=fabrix_chat.dump DATABASE_URL`, and `pg_restore` to restore.",
        "여기서의 백업은 SQLite 데이터베이스용입니다. PostgreSQL은 자체 도구를 쓰세요. 예: "
        "`pg_dump --format=custom --file=fabrix_chat.dump DATABASE_URL`, 복원은 `pg_restore`.",
    ),
    "maint_backup_nothing": (
        "There is no database at {path} yet: nothing to back up.",
        "{path}에 아직 데이터베이스가 없어 백업할 것이 없습니다.",
    ),
    "maint_backup_onto_live": (
        "{path} is the live database itself: choose another file for the backup.",
        "{path}는 사용 중인 데이터베이스 자체입니다. 백업할 다른 파일을 고르세요.",
    ),
    "maint_backup_damaged": (
        "The backup copy failed its integrity check ({problems}). The live database may be damaged: run `manage check`.",
        "백업 사본이 무결성 검사를 통과하지 못했습니다({problems}). 사용 중인 데이터베이스가 손상되었을 수 있습니다. "
        "`manage check`를 실행하세요.",
    ),
    "maint_backup_failed": (
        "Backup to {path} failed: {error}. Check the folder exists, is writable and has free space.",
        "{path}로 백업하지 못했습니다: {error}. 폴더가 있는지, 쓸 수 있는지, 여유 공간이 있는지 확인하세요.",
    ),
    "maint_restore_damaged": (
        "{path} is damaged ({problems}): choose another backup.",
        "{path}가 손상되었습니다({problems}). 다른 백업을 고르세요.",
    ),
    "maint_restore_not_ours": (
        "{path} is a SQLite file but not a FabriX Agent Chat database (no {tables} table).",
        "{path}는 SQLite 파일이지만 FabriX Agent Chat 데이터베이스가 아닙니다({tables} 테이블 없음).",
    ),
    "maint_restore_postgres": (
        "Restore here is for the SQLite database. For PostgreSQL use `pg_restore` (or `psql`) with the dump made by "
        "`pg_dump`.",
        "여기서의 복원은 SQLite 데이터베이스용입니다. PostgreSQL은 `pg_dump`로 만든 덤프와 `pg_restore`(또는 `psql`)를 "
        "쓰세요.",
    ),
    "maint_restore_missing": ("{path} does not exist or is not a file.", "{path}가 없거나 파일이 아닙니다."),
    "maint_restore_live": (
        "{path} is the live database itself: choose a backup file.",
        "{path}는 사용 중인 데이터베이스 자체입니다. 백업 파일을 고르세요.",
    ),
    "maint_restore_not_sqlite": (
        "{path} is not a SQLite database file.",
        "{path}는 SQLite 데이터베이스 파일이 아닙니다.",
    ),
    "maint_restore_unreadable": (
        "{path} cannot be read as a database: {error}.",
        "{path}를 데이터베이스로 읽을 수 없습니다: {error}.",
    ),
    "maint_restore_replace_failed": (
        "Could not replace {path} ({error}). Is the app still running? Stop it and run restore again; the database "
        "before this attempt is kept at {safety}.",
        "{path}를 바꾸지 못했습니다({error}). 앱이 아직 실행 중인가요? 앱을 멈추고 다시 복원하세요. 이번 시도 전의 "
        "데이터베이스는 {safety}에 보관되어 있습니다.",
    ),
    "maint_optimize_nothing": (
        "There is no database at {path} yet: nothing to optimize.",
        "{path}에 아직 데이터베이스가 없어 최적화할 것이 없습니다.",
    ),
    "maint_optimize_failed": (
        "Optimizing {path} failed: {error}. If the database is busy, try again at a quiet time; VACUUM also needs "
        "free disk space about the size of the database.",
        "{path} 최적화에 실패했습니다: {error}. 데이터베이스가 바쁘면 한가한 시간에 다시 시도하세요. VACUUM에는 "
        "데이터베이스 크기만큼의 여유 디스크 공간도 필요합니다.",
    ),
    "maint_optimize_postgres_failed": (
        "Optimizing the database failed: {error}",
        "데이터베이스 최적화에 실패했습니다: {error}",
    ),
    "unit_seconds": ("s", "초"),
}


def t(key: str, lang: str = "en", **values: object) -> str:
    """The string `key` in `lang` (English when unknown), with {placeholders} filled in."""
    en, ko = STRINGS[key]
    text = ko if lang == "ko" else en
    return text.format(**values) if values else text


class KeyedError(Exception):
    """An error that names what the user is told: an i18n key and its values. `str()` is the
    English text (the command line, the log); `error_text(exc, lang)` the text in `lang`."""

    def __init__(self, key: str, **values: object) -> None:
        self.key, self.values = key, values
        super().__init__(t(key, "en", **values))

    def text_key(self) -> str:
        return self.key

    def text_values(self, lang: str) -> dict[str, object]:
        return self.values


def error_text(exc: BaseException, lang: str = "en") -> str:
    """What a user is told about any failure, in `lang`: the error's own key and placeholders
    (`text_key()` and `text_values(lang)`, which the FabriX errors, the rate limiter's refusal and
    the maintenance errors define), else the database, Redis or the disk being unavailable
    (outages.py), else the generic message. Never the exception's own words: those are for the log."""
    text_key = getattr(exc, "text_key", None)
    if callable(text_key):
        return t(text_key(), lang, **exc.text_values(lang))  # type: ignore[attr-defined]
    return t(outages.text_key(exc) or "error_generic", lang)


def table(lang: str) -> dict[str, str]:
    """All strings of one language, for the UI state."""
    index = 1 if lang == "ko" else 0
    return {key: pair[index] for key, pair in STRINGS.items()}
